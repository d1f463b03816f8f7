// The running model's shape and the server's limits: GET /api/model's answer, which the server
// writes once into every page's <body data-model> (app/routers/pages.py `render`, base.html).
// Pages read it here instead of fetching /api/model or assuming SmolLM2's numbers, so a page knows
// the shape before its first draw and stays true for another GGUF.

/** {name, display_name, n_layers, n_heads, n_kv_heads, kv_head_of, d_model, d_head, d_mlp,
 *  vocab_size, context_length, n_params, rope_base, source, limits: {max_prompt_tokens,
 *  max_prompt_chars, max_new_tokens, max_body_bytes, max_all_heads_tokens}, storage, block_rows} */
export const model = JSON.parse(document.body.dataset.model);
