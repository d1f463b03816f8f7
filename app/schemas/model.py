from pydantic import BaseModel, Field


class ServerLimits(BaseModel):
    """What this server accepts; a request past a limit gets a 413 or 422 that names it."""

    max_prompt_tokens: int = Field(..., description="Longest prompt, in tokens (text and append_ids together; "
                                   "for a chat, the whole conversation written out through the chat template).")
    max_prompt_chars: int = Field(..., description="Longest prompt, in characters.")
    max_new_tokens: int = Field(..., description="Most tokens one POST /api/generate may ask for.")
    max_body_bytes: int = Field(..., description="Largest request body, in bytes (413 above it).")
    max_all_heads_tokens: int = Field(..., description="Longest prompt whose every head POST /api/attention/all "
                                      "sends at once (POST /api/attention takes one head of any prompt).")


class StorageOut(BaseModel):
    """One storage type of the GGUF's weights, read from the file when the model is loaded."""

    type: str = Field(..., description="The GGUF's name for the type: Q4_1 (4-bit codes, a scale and a minimum "
                      "per block of 32 weights), Q8_0 (8-bit codes and a scale per block of 32), F16, F32, ...")
    bits_per_weight: float = Field(..., description="Storage per weight, block scales included (Q4_1: 5.0).")
    tensors: int = Field(..., description="How many weight tensors the GGUF stores in this type.")
    weights: int = Field(..., description="How many weights those tensors hold.")


class ModelInfo(BaseModel):
    name: str = Field(..., description="The model's name from its GGUF metadata.")
    display_name: str = Field(..., description="A readable name, from the GGUF's file name.")
    n_layers: int = Field(..., description="Transformer blocks; `layer` fields run from 0 to n_layers - 1.")
    n_heads: int = Field(..., description="Query heads per layer; `head` fields run from 0 to n_heads - 1.")
    n_kv_heads: int = Field(..., description="Key/value heads per layer (grouped-query attention): each is "
                            "shared by n_heads / n_kv_heads query heads.")
    kv_head_of: list[int] = Field(..., description="For each query head, the key/value head it reads.")
    d_model: int = Field(..., description="Width of the residual stream.")
    d_head: int = Field(..., description="Width of one attention head's queries, keys and values.")
    d_mlp: int = Field(..., description="Width of the SwiGLU MLP's hidden layer.")
    vocab_size: int = Field(..., description="Number of tokens; token ids run from 0 to vocab_size - 1.")
    context_length: int = Field(..., description="Longest sequence the model was trained on, in tokens "
                                "(generation stops there); prompts are further limited by `limits`.")
    n_params: int = Field(..., description="Number of parameters (the tied embedding counted once).")
    rope_base: float = Field(..., description="Base of the rotary position embedding's frequencies.")
    source: str = Field(..., description="File name of the GGUF being run.")
    limits: ServerLimits = Field(..., description="The server's input limits.")
    storage: list[StorageOut] = Field([], description="How the GGUF stores the weights, the type holding the "
                                      "most weights first. Quantised types are what the model computes with: "
                                      "every number the API returns is the quantised model's (a full-precision "
                                      "copy of the same model would give slightly different numbers). Empty "
                                      "for a model not loaded from a GGUF.")
    block_rows: int = Field(..., description="Passes of up to this many tokens (generation steps, a few typed "
                            "tokens) multiply straight by the GGUF's quantised blocks, the others by the "
                            "dequantised float32 weights: the same numbers to float32 rounding. 0 when the "
                            "block kernel is off or could not be built on this machine.")
