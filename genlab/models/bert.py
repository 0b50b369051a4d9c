"""BERT: a Transformer *encoder* pretrained by masked language modelling (the model that came before GPT).

Read top to bottom in the order of the lecture: token + learned position embeddings → ``n_layer``
blocks → final LayerNorm → a masked-LM head (dense, GELU, LayerNorm, then a linear layer tied to the
token embedding). The blocks are GPT's own (:class:`genlab.models.gpt.Block`) *without* the causal
mask: every position attends to every other, before and after it — "bidirectional". Such a model
cannot generate left to right; it is trained to fill in hidden tokens (``<mask>``), and its hidden
states are what a classifier reads (:mod:`genlab.classify`). Names follow GPT-2 where the weights
are the same (``wte``, ``wpe``, ``h``, ``ln_f``), so a reader can compare the two files line by line.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from genlab.errors import GenlabError
from genlab.models.gpt import Block, GPTConfig, active_dropout, rope_tables
from genlab.models.weights import load_weights, weights_path

MASK_TOKEN = "<mask>"


@dataclass
class BertConfig:
    vocab_size: int = 256  # includes the added <mask> token
    block_size: int = 128  # longest input, in tokens (the number of learned positions)
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.1
    bias: bool = True
    tie_weights: bool = True
    activation: str = "gelu"  # the MLP's GELU, exact, or GPT's other choices (gelu_tanh, relu2)
    qk_norm: bool = False  # RMS-normalise queries and keys, as GPT's --qk-norm
    #: "learned" (BERT's position table) or "rope" (rotary: each attention score sees how far apart two
    #: tokens are, which an encoder without a causal mask has no other way to tell)
    positions: str = "learned"

    def validate(self) -> None:
        if self.positions not in ("learned", "rope"):
            raise GenlabError(f"bert positions must be learned or rope, not {self.positions!r}")
        GPTConfig(**{f.name: getattr(self, f.name) for f in fields(GPTConfig) if hasattr(self, f.name)}).validate()


class BERT(nn.Module):
    """Embeddings → encoder blocks (no causal mask) → final LayerNorm → masked-LM head."""

    is_encoder = True

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.vocab_size = config.vocab_size
        self.block_size = config.block_size
        blocks = GPTConfig(**{f.name: getattr(config, f.name) for f in fields(GPTConfig) if hasattr(config, f.name)})
        layers = dict(wte=nn.Embedding(config.vocab_size, config.n_embd))  # token embedding
        if config.positions == "learned":
            layers["wpe"] = nn.Embedding(config.block_size, config.n_embd)  # position embedding
        else:  # rotary: fixed angles, rebuilt from the config (not saved)
            cos, sin = rope_tables(config.n_embd // config.n_head, config.block_size)
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)
        self.transformer = nn.ModuleDict(dict(
            **layers,
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(blocks, causal=False) for _ in range(config.n_layer)]),
            ln_f=nn.LayerNorm(config.n_embd, bias=config.bias),
        ))
        # the masked-LM head: one more non-linear layer before the (tied) output, as in BERT
        self.mlm_dense = nn.Linear(config.n_embd, config.n_embd)
        self.mlm_ln = nn.LayerNorm(config.n_embd)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=True)
        if config.tie_weights:
            self.transformer.wte.weight = self.lm_head.weight
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def hidden(self, tokens: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``tokens[B, T]`` → contextual vectors ``[B, T, C]``; ``key_mask[B, T]`` False hides padding."""
        B, T = tokens.shape
        if self.block_size < T:
            raise GenlabError(f"input of {T} tokens is longer than the model's {self.block_size} positions "
                              "(--block-size)")
        x = self.transformer.wte(tokens)  # (B, T, C)
        rope = None
        if self.config.positions == "learned":
            x = x + self.transformer.wpe.weight[:T]
        else:
            rope = (self.rope_cos[:T], self.rope_sin[:T])
        x = active_dropout(self.transformer.drop, x)
        for block in self.transformer.h:
            x = block(x, key_mask=key_mask, rope=rope)
        return self.transformer.ln_f(x)  # (B, T, C)

    def mlm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Hidden vectors ``[..., C]`` → scores over the vocabulary ``[..., V]``."""
        return self.lm_head(self.mlm_ln(torch.nn.functional.gelu(self.mlm_dense(hidden))))

    def forward(self, tokens: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Masked-LM scores at every position ``[B, T] -> [B, T, V]``."""
        return self.mlm_logits(self.hidden(tokens, key_mask))

    # --- not a left-to-right language model --------------------------------------------------------
    def _not_generative(self, *args: Any, **kwargs: Any) -> Any:
        raise GenlabError("this run holds a BERT encoder: it fills in <mask> tokens but does not generate text; "
                          "use `genlab fill RUN \"… <mask> …\"` or `genlab classify train --init-from RUN`")

    logits = start = step = prefill = _not_generative


def build(model_config: dict[str, Any]) -> BERT:
    """A randomly initialised BERT from a ``config.json["model"]`` dict."""
    names = {f.name for f in fields(BertConfig)}
    return BERT(BertConfig(**{k: v for k, v in model_config.items() if k in names}))


def model_config_dict(config: BertConfig) -> dict[str, Any]:
    return {"family": "bert", **asdict(config)}


def load(run_dir: Path, config: dict, device: str = "cpu", which: str = "best") -> BERT:
    """Rebuild a trained run's BERT for the registry (``best`` falls back to the latest weights)."""
    model = build(config["model"])
    load_weights(model, weights_path(Path(run_dir), which))
    return model.to(device).eval()
