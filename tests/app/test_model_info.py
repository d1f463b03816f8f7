def test_model_info_describes_the_tiny_model(tiny_client):
    info = tiny_client.get("/api/model").json()
    assert info["n_layers"] == 2 and info["n_heads"] == 4 and info["n_kv_heads"] == 2
    assert info["vocab_size"] == 268 and info["n_params"] > 0
    assert info["block_rows"] == 0  # random float32 weights: no quantised blocks to read


def test_model_info_describes_the_real_model(real_client):
    info = real_client.get("/api/model").json()
    assert (info["n_layers"], info["n_heads"], info["n_kv_heads"], info["d_model"]) == (30, 9, 3, 576)
    assert info["vocab_size"] == 49152 and info["context_length"] == 8192
    # 134.5M parameters with the tied embedding counted once.
    assert 134_000_000 < info["n_params"] < 135_000_000
    assert info["source"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert info["display_name"] == "SmolLM2-135M-Instruct"
    assert info["block_rows"] == 12  # the block kernel was built and serves short passes


def test_pages_name_the_model_being_run(real_client):
    assert "SmolLM2-135M-Instruct</span> on this server" in real_client.get("/tokens").text


def test_model_info_lists_every_limit_a_request_can_hit(tiny_engine, tiny_client):
    limits = tiny_client.get("/api/model").json()["limits"]
    s = tiny_engine.settings
    assert limits == {"max_prompt_tokens": s.max_prompt_tokens, "max_prompt_chars": s.max_prompt_chars,
                      "max_new_tokens": s.max_new_tokens, "max_body_bytes": s.max_body_bytes,
                      "max_all_heads_tokens": s.max_all_heads_tokens}
