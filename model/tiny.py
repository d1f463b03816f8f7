"""A tiny random-weight Llama with a byte-level tokenizer: same architecture and code paths as
the real model, small enough for fast unit tests that need no downloaded weights."""

from __future__ import annotations

import torch

from model.config import LlamaConfig
from model.llama import Llama
from model.tokenizer import ModelTokenizer, _BYTE_OF
from model.weights import TokenizerData

SMOLLM2_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
MERGES = ["Ġ t", "h e", "Ġt he", "i n", "Ġ a", "a n", "Ġ b", "an k", "Ġb ank"]


def tiny_tokenizer_data() -> TokenizerData:
    byte_symbols = sorted(_BYTE_OF, key=_BYTE_OF.get)             # 256 symbols, in byte order
    tokens = SPECIALS + byte_symbols + [m.replace(" ", "") for m in MERGES]
    return TokenizerData(tokens=tokens, token_types=[3] * len(SPECIALS) + [1] * (len(tokens) - len(SPECIALS)),
                         merges=MERGES, pre="smollm", bos_id=1, eos_id=2,
                         chat_template=SMOLLM2_CHAT_TEMPLATE)


def tiny_config(vocab_size: int) -> LlamaConfig:
    return LlamaConfig(name="tiny-random-llama", n_layers=2, n_heads=4, n_kv_heads=2, d_model=32,
                       d_mlp=64, vocab_size=vocab_size, context_length=128, rope_base=10000.0,
                       norm_eps=1e-5)


def tiny_model(seed: int = 0) -> tuple[Llama, ModelTokenizer]:
    data = tiny_tokenizer_data()
    cfg = tiny_config(len(data.tokens))
    torch.manual_seed(seed)
    model = Llama(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.fill_(1.0)
    return model.eval().requires_grad_(False), ModelTokenizer(data)
