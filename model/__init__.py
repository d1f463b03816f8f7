"""transformer-tour's model package: pure PyTorch + gguf + tokenizers, never imports app/."""
