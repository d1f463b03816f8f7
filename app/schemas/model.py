from pydantic import BaseModel, Field


class ModelInfo(BaseModel):
    name: str = Field(..., description="The model's name from its GGUF metadata.")
    display_name: str = Field(..., description="A readable name, from the GGUF's file name.")
    n_layers: int
    n_heads: int = Field(..., description="Query heads per layer.")
    n_kv_heads: int = Field(..., description="Key/value heads per layer (grouped-query attention).")
    d_model: int = Field(..., description="Width of the residual stream.")
    d_head: int
    d_mlp: int
    vocab_size: int
    context_length: int
    n_params: int = Field(..., description="Number of parameters (the tied embedding counted once).")
    rope_base: float
    source: str = Field(..., description="File name of the GGUF being run.")
    limits: dict[str, int] = Field(..., description="The server's input limits.")
    block_rows: int = Field(..., description="Passes of up to this many tokens (generation steps, a few typed "
                            "tokens) multiply straight by the GGUF's quantised blocks, the others by the "
                            "dequantised float32 weights: the same numbers to float32 rounding. 0 when the "
                            "block kernel is off or could not be built on this machine.")
