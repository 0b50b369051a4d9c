"""GPT: a Transformer decoder with masked multi-head self-attention (course step 3, GPT Architecture).

Read top to bottom in the order of the lecture: token + learned position embeddings → ``n_layer``
blocks, each pre-LayerNorm masked multi-head self-attention then a GELU MLP, both with residual
connections → final LayerNorm → a linear head tied to the token embedding. Names follow GPT-2
(``wte``, ``wpe``, ``h``, ``c_attn``, ``c_proj``, ``c_fc``, ``ln_f``), so weights map onto other
tools one to one. "Masked" means each position may only attend to itself and earlier positions,
which is what makes the model a next-token predictor: ``scaled_dot_product_attention`` with a causal
mask does it without materialising the mask.

Incremental decoding uses a KV cache (:class:`KVCache`): the keys and values of earlier positions
are kept, so each new token costs one position's work. Positions are learned up to ``block_size``;
when the cache is full, the newest half of the context is re-encoded at positions 0… and decoding
goes on (a sliding window that costs one re-encoding every ``block_size / 2`` tokens, instead of
re-running the whole prefix for every token).

A server decodes many independent requests at once (:mod:`genlab.serve.batcher`). Their rows sit in
one :class:`SlotCache`, where every row has its own position: a row joins, advances and leaves
without waiting for the others, and each query sees only its own row's earlier positions (a mask
per row). Rows fed fewer tokens than the longest in a call are padding there; their writes go to one
spare position past the window that no query ever sees.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from genlab.devices import cpu_flags
from genlab.errors import GenlabError
from genlab.models.gpt_decode import DecodePlan, decode_plan, fast_decoding, forward_rows
from genlab.models.weights import load_weights, weights_path

#: GELU variants: name → ``nn.GELU(approximate=…)``
GELUS = {"gelu": "none", "gelu_tanh": "tanh"}
#: the MLP's activations: GPT-2's GELU (exact or tanh), and the squared ReLU of recent speedruns
ACTIVATIONS = (*GELUS, "relu2")
#: how a GPT knows where a token is: learned position vectors added to the input (GPT-2), or rotary
#: embeddings that turn each head's queries and keys by an angle proportional to the position
POSITIONS = ("learned", "rope")
#: whether this CPU has AMX tiles (see :func:`attention`), read once at import: torch.compile then sees
#: a constant, not a file read that would split its graph
CPU_HAS_AMX = "amx_bf16" in cpu_flags()


@dataclass
class GPTConfig:
    vocab_size: int = 256
    block_size: int = 128  # longest context, in tokens (the number of learned positions)
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True  # biases in the Linear layers and LayerNorms, as GPT-2
    tie_weights: bool = True
    #: the MLP's GELU: exact ("gelu"), or the tanh approximation GPT-2's own checkpoints were trained with;
    #: "relu2" (relu(x)², cheaper than GELU on a CPU) leaves GPT-2's layout
    activation: str = "gelu"
    #: "learned" (GPT-2's layout) or "rope" (rotary; no position table, so no learned limit to learn)
    positions: str = "learned"
    #: normalise each head's queries and keys (RMS, no gain) before the dot product: the attention
    #: logits stay bounded, so a higher learning rate stays stable
    qk_norm: bool = False

    def validate(self) -> None:
        if self.n_embd % self.n_head:
            raise GenlabError(f"--n-embd {self.n_embd} must be divisible by --n-head {self.n_head}")
        if self.activation not in ACTIVATIONS:
            raise GenlabError(f"unknown GPT activation {self.activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        if self.positions not in POSITIONS:
            raise GenlabError(f"unknown GPT positions {self.positions!r}; choose one of {', '.join(POSITIONS)}")
        if self.positions == "rope" and (self.n_embd // self.n_head) % 2:
            raise GenlabError(f"--positions rope needs an even head size; {self.n_embd}/{self.n_head} is odd")
        if not 0 <= self.dropout < 1:
            raise GenlabError("--dropout must be in [0, 1)")

    def non_gpt2_options(self) -> list[str]:
        """The options that take this model out of GPT-2's layout (empty: it exports as GPT-2)."""
        return [flag for flag, off in (("--positions rope", self.positions == "rope"),
                                       ("--qk-norm", self.qk_norm),
                                       (f"--activation {self.activation}", self.activation not in GELUS)) if off]


@dataclass
class KVCache:
    """Decoding state: per-layer keys/values ``(L, B, nh, block, hs)``, and the tokens they encode."""

    k: torch.Tensor
    v: torch.Tensor
    tokens: torch.Tensor  # (B, block) ids fed so far, to re-encode the window when it slides
    pos: int = 0  # how many positions are filled
    #: the decode plan and per-layer views of k/v (genlab.models.gpt_decode), made on first use
    plan: DecodePlan | None = None
    views: CacheViews | None = None


@dataclass
class SlotCache:
    """Decoding state of independent rows (a server's slots): per-layer keys/values
    ``(L, B, nh, block + 1, hs)`` (the last position takes padding writes), and per row the number of
    positions filled (``pos``) and the tokens they encode (to re-encode a row's window when it slides).
    """

    k: torch.Tensor
    v: torch.Tensor
    tokens: list[list[int]]  # per row: the ids at positions 0 … pos-1
    pos: list[int]  # per row: positions filled
    # set by GPT.feed_slots for the layers of one call:
    #: the rows fed (a slice reads the cache without copying)
    rows: slice | torch.Tensor = field(default_factory=lambda: slice(0, 0))
    row_ids: torch.Tensor | None = None  # (k,) the same rows as ids
    write_at: torch.Tensor | None = None  # (k, T) where each new key goes (the spare position for padding)
    mask: torch.Tensor | None = None  # (k, 1, T, S) which cached positions each query may see
    seen: int = 0  # S: positions read by this call (the longest row's end)
    plan: DecodePlan | None = None
    views: CacheViews | None = None


@dataclass
class CacheViews:
    """Per layer, the cache's keys and values ``(B, nh, S, hs)``, as views made once per cache (the decode
    plan writes and reads them every step; indexing the 5-d tensor anew would cost calls of its own)."""

    k: list[torch.Tensor]
    v: list[torch.Tensor]
    heads: torch.Tensor  # arange(nh)

    @staticmethod
    def of(k: torch.Tensor, v: torch.Tensor) -> CacheViews:
        return CacheViews(list(k.unbind(0)), list(v.unbind(0)), torch.arange(k.shape[2], device=k.device))


def active_dropout(module: nn.Dropout, x: torch.Tensor) -> torch.Tensor:
    """``module(x)`` only when it does something (training, p > 0): decoding skips the call entirely."""
    return module(x) if module.training and module.p > 0 else x


def rope_tables(head_size: int, positions: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of the rotary angles ``(positions, head_size / 2)``: pair i turns by p · base^(-2i/hs)."""
    inv_freq = base ** (-torch.arange(0, head_size, 2, dtype=torch.float32) / head_size)
    angles = torch.arange(positions, dtype=torch.float32)[:, None] * inv_freq[None, :]
    return angles.cos(), angles.sin()


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding of ``x[..., T, hs]``: each (first half, second half) pair turned by its angle."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).type_as(x)


def heads_after_positions(angles: torch.Tensor) -> torch.Tensor:
    """Rotary cos or sin shaped for ``(B, nh, T, hs/2)`` — ``(T, hs/2)`` or ``(B, 1, T, hs/2)`` — reshaped
    (a view) to broadcast over ``(B, T, 2, nh, hs/2)``: queries and keys turned in one call."""
    if angles.dim() == 4:
        angles = angles.squeeze(1)  # (B, T, hs/2)
    return angles[..., None, None, :]


def single_query_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """softmax(q·kᵀ/√d)·v for one query per head, ``(B, nh, 1, hs)`` against ``(B, nh, L, hs)``.

    The decoding step's attention, written as two small batched matmuls: PyTorch's fused CPU kernel
    splits this tiny problem across threads, and when another process holds a core it stalls for
    milliseconds waiting for it (measured: batch-1 decoding fell from ~170 to ~40 tokens/s).
    """
    scores = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))  # (B, nh, 1, L)
    return torch.matmul(torch.softmax(scores, dim=-1), v)  # (B, nh, 1, hs)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, **kwargs: Any) -> torch.Tensor:
    """``scaled_dot_product_attention``, in float32 where its bfloat16 backward is the slow kernel.

    PyTorch's fused CPU kernel runs bfloat16 through many small blocked products with conversions; on
    a CPU without AMX its backward pass is 2-2.5x slower than the same kernel in float32 (measured on an
    AMD EPYC with AVX-512 BF16: 7.8 vs 3.1 ms for 8 x 4 heads x 128 positions x 32 dims, forward and
    backward; the forward alone is level). So when gradients will flow on such a CPU, queries, keys and
    values are lifted to float32 for this one call and the result is cast back. With AMX the kernel
    has packed bfloat16 products, and on GPUs bfloat16 attention is the fast path: both stay as they are.
    """
    if _float32_backward(q, k, v):
        with torch.autocast("cpu", enabled=False):
            return F.scaled_dot_product_attention(q.float(), k.float(), v.float(), **kwargs).to(torch.bfloat16)
    return F.scaled_dot_product_attention(q, k, v, **kwargs)


def _float32_backward(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> bool:
    """Whether :func:`attention` lifts this call: bfloat16 (or its autocast), gradients to come, no AMX."""
    if q.device.type != "cpu" or not torch.is_grad_enabled():
        return False
    if not (q.requires_grad or k.requires_grad or v.requires_grad):
        return False
    low = q.dtype == torch.bfloat16 or (torch.is_autocast_enabled("cpu")
                                         and torch.get_autocast_dtype("cpu") == torch.bfloat16)
    return low and not CPU_HAS_AMX


def masked_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """:func:`single_query_attention` where each row's query sees only the positions ``mask`` allows."""
    scores = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))  # (B, nh, 1, S)
    scores = scores.masked_fill(~mask, float("-inf"))
    return torch.matmul(torch.softmax(scores, dim=-1), v)  # (B, nh, 1, hs)


class CausalSelfAttention(nn.Module):
    """Masked multi-head self-attention: every head looks back over the positions before it.

    ``causal=False`` lifts the mask (every position sees every other, as in BERT's encoder,
    :mod:`genlab.models.bert`); ``key_mask[B, T]`` (True = a real token) then hides padding.
    """

    def __init__(self, config: GPTConfig, causal: bool = True) -> None:
        super().__init__()
        self.causal = causal
        self.n_head, self.n_embd, self.dropout = config.n_head, config.n_embd, config.dropout
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)  # q, k, v at once
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.qk_norm = config.qk_norm

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0,
                key_mask: torch.Tensor | None = None,
                rope: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """``rope``: the (cos, sin) of each query's position, broadcastable to ``(B, nh, T, hs / 2)``."""
        B, T, C = x.shape
        hs = C // self.n_head
        qkv = self.c_attn(x).view(B, T, 3, self.n_head, hs)  # q, k and v of every head
        v = qkv[:, :, 2].transpose(1, 2)  # (B, nh, T, hs)
        if self.qk_norm or rope is not None:  # q and k side by side: one kernel each serves both
            qk = qkv[:, :, :2]  # (B, T, 2, nh, hs)
            if self.qk_norm:
                qk = F.rms_norm(qk, (hs,))
            if rope is not None:  # keys are turned before they are cached: a cached key keeps its position
                qk = rotate(qk, *(heads_after_positions(t) for t in rope))
            q, k = qk.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, nh, T, hs)
        else:
            q, k = qkv[:, :, 0].transpose(1, 2), qkv[:, :, 1].transpose(1, 2)  # (B, nh, T, hs)
        dropout = self.dropout if self.training else 0.0
        if isinstance(cache, SlotCache):
            y = self._slot_attention(q, k, v, cache, layer)
        elif cache is None and not self.causal:
            mask = None if key_mask is None else key_mask[:, None, None, :]  # (B, 1, 1, T): keys to attend to
            y = attention(q, k, v, attn_mask=mask, dropout_p=dropout)
        elif cache is None:
            y = attention(q, k, v, dropout_p=dropout, is_causal=True)
        else:
            start, end = cache.pos, cache.pos + T
            cache.k[layer, :, :, start:end] = k
            cache.v[layer, :, :, start:end] = v
            k, v = cache.k[layer, :, :, :end], cache.v[layer, :, :, :end]  # (B, nh, end, hs)
            if T == 1:  # one new query may see every cached position
                y = single_query_attention(q, k, v)
            elif start == 0:
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:  # new query i (at position start+i) sees positions 0..start+i
                mask = torch.ones(T, end, dtype=torch.bool, device=x.device).tril(diagonal=start)
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # re-assemble the heads: (B, T, C)
        return active_dropout(self.resid_dropout, self.c_proj(y))

    @staticmethod
    def _slot_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cache: SlotCache,
                        layer: int) -> torch.Tensor:
        """Every row writes its new keys at its own positions, then attends over its own row only."""
        rows = cache.row_ids[:, None]  # (k, 1), broadcast against write_at (k, T)
        cache.k[layer][rows, :, cache.write_at] = k.transpose(1, 2)  # values (k, T, nh, hs)
        cache.v[layer][rows, :, cache.write_at] = v.transpose(1, 2)
        keys = cache.k[layer, cache.rows, :, :cache.seen]  # (k, nh, S, hs)
        values = cache.v[layer, cache.rows, :, :cache.seen]
        if q.shape[2] == 1:
            return masked_attention(q, keys, values, cache.mask)
        return F.scaled_dot_product_attention(q, keys, values, attn_mask=cache.mask)


class ReLU2(nn.Module):
    """relu(x)²: as smooth at 0 as needed for training, and one cheap elementwise op on a CPU."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x).square()


class MLP(nn.Module):
    """Position-wise feed-forward network: widen 4×, GELU (or ReLU²), project back."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = ReLU2() if config.activation == "relu2" else nn.GELU(approximate=GELUS[config.activation])
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return active_dropout(self.dropout, self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """One decoder block, pre-LayerNorm: x + attention(norm(x)), then x + MLP(norm(x)).

    With ``causal=False`` it is an encoder block (BERT's), the same weights without the mask.
    """

    def __init__(self, config: GPTConfig, causal: bool = True) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config, causal)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0,
                key_mask: torch.Tensor | None = None,
                rope: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), cache, layer, key_mask, rope)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """Embeddings → decoder blocks → final LayerNorm → tied head: scores for the next token."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.vocab_size = config.vocab_size
        self.block_size = config.block_size  # a hard limit on input length (learned positions)
        self.context_size = config.block_size
        layers = dict(wte=nn.Embedding(config.vocab_size, config.n_embd))  # token embedding
        if config.positions == "learned":
            layers["wpe"] = nn.Embedding(config.block_size, config.n_embd)  # position embedding
        else:  # rotary: fixed angles, not weights (non-persistent: not saved, rebuilt from the config)
            cos, sin = rope_tables(config.n_embd // config.n_head, config.block_size)
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)
        self.transformer = nn.ModuleDict(dict(
            **layers,
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=nn.LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_weights:
            self.transformer.wte.weight = self.lm_head.weight
        # GPT-2 initialisation: N(0, 0.02) everywhere, and the projections that write into the
        # residual stream scaled by 1/sqrt(2 · n_layer) so its variance does not grow with depth
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameter count; position embeddings excluded by default (they are not "the model")."""
        n = sum(p.numel() for p in self.parameters())
        wpe = getattr(self.transformer, "wpe", None)
        return n - wpe.weight.numel() if non_embedding and wpe is not None else n

    def _run(self, tokens: torch.Tensor, cache: KVCache | SlotCache | None = None,
             positions: torch.Tensor | None = None) -> torch.Tensor:
        """Hidden states ``(B, T, C)``; ``positions[B, T]``: each token's position, when each row has its own."""
        B, T = tokens.shape
        if positions is None:
            start = cache.pos if cache is not None else 0
            if start + T > self.block_size:
                raise GenlabError(f"input of {start + T} tokens is longer than the model's context "
                                  f"(--block-size {self.block_size})")
            where: slice | torch.Tensor = slice(start, start + T)  # positions start…start+T-1
        else:
            where = positions
        x = self.transformer.wte(tokens)  # (B, T, C)
        rope = None
        if self.config.positions == "learned":
            x = x + self.transformer.wpe.weight[where]  # (T, C) or (B, T, C)
        else:  # (T, hs/2) → (1, 1, T, hs/2), or (B, T, hs/2) → (B, 1, T, hs/2): broadcast over heads
            cos, sin = self.rope_cos[where], self.rope_sin[where]
            rope = (cos.unsqueeze(-3), sin.unsqueeze(-3)) if cos.dim() == 3 else (cos, sin)
        x = active_dropout(self.transformer.drop, x)
        for layer, block in enumerate(self.transformer.h):
            x = block(x, cache, layer, None, rope)
        return self.transformer.ln_f(x)  # (B, T, C)

    def hidden(self, tokens: torch.Tensor) -> torch.Tensor:
        """The final LayerNorm's output ``[B, T, C]``: what a classification head pools (genlab.classify)."""
        return self._run(tokens)

    def forward(self, tokens: torch.Tensor, select: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher-forced next-token logits ``[B, T] -> [B, T, V]`` (T ≤ block_size).

        ``select[B, T]`` (bool) scores only those positions, ``-> [N, V]``: a loss over a few targets
        (fine-tuning's assistant tokens) then skips the head and softmax everywhere else.
        """
        hidden = self._run(tokens)
        return self.lm_head(hidden if select is None else hidden[select])

    # --- the language-model protocol -------------------------------------------------------------
    def logits(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.forward(tokens)

    def start(self, batch_size: int) -> KVCache:
        c = self.config
        p = self.transformer.wte.weight  # (the head may be an int8 module without a weight tensor)
        shape = (c.n_layer, batch_size, c.n_head, c.block_size, c.n_embd // c.n_head)
        return KVCache(k=p.new_zeros(shape), v=p.new_zeros(shape),
                       tokens=torch.zeros(batch_size, c.block_size, dtype=torch.long, device=p.device))

    def prefill(self, tokens: torch.Tensor, cache: KVCache) -> tuple[torch.Tensor, KVCache]:
        """Feed ``tokens[B, T]`` after what the cache holds; returns the next-token logits ``[B, V]``.

        The cache is updated in place (and returned). When it would overflow, the context slides:
        the newest ``max(block/2, T)`` tokens (at most ``block``) are re-encoded from position 0.
        Without gradients the work goes through the decode plan (:mod:`genlab.models.gpt_decode`),
        else through the blocks' own ``forward``.
        """
        T = tokens.shape[1]
        if cache.pos + T > self.block_size:
            context = torch.cat([cache.tokens[:, :cache.pos], tokens], dim=1)
            keep = min(max(self.block_size // 2, T), self.block_size)
            tokens, T = context[:, -keep:], keep
            cache.pos = 0
        start, end = cache.pos, cache.pos + T
        cache.tokens[:, start:end] = tokens
        if not fast_decoding(self):
            hidden = self._run(tokens, cache)
            cache.pos = end
            return self.lm_head(hidden[:, -1]), cache  # (B, V)
        if cache.plan is None:
            cache.plan, cache.views = decode_plan(self), CacheViews.of(cache.k, cache.v)
        plan, views = cache.plan, cache.views

        def write_read(layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            views.k[layer].narrow(2, start, T).copy_(k.transpose(1, 2))
            views.v[layer].narrow(2, start, T).copy_(v.transpose(1, 2))
            return views.k[layer].narrow(2, 0, end), views.v[layer].narrow(2, 0, end)

        bias = None
        if T > 1:  # new query i (at position start+i) sees positions 0 … start+i
            hidden_from = torch.ones(T, end, dtype=torch.bool, device=tokens.device).triu(diagonal=start + 1)
            bias = plan.wpe.new_zeros(1, 1, T, end).masked_fill_(hidden_from, float("-inf"))
        hidden = forward_rows(plan, tokens, plan.wpe[start:end], write_read, bias)  # (B, T, C)
        cache.pos = end
        return plan.head(hidden[:, -1]), cache  # (B, V)

    def step(self, tokens: torch.Tensor, cache: KVCache) -> tuple[torch.Tensor, KVCache]:
        return self.prefill(tokens[:, None], cache)

    # --- independent rows, for a server's batch (genlab.serve.batcher) -----------------------------
    def start_slots(self, rows: int) -> SlotCache:
        c = self.config
        p = self.transformer.wte.weight
        shape = (c.n_layer, rows, c.n_head, c.block_size + 1, c.n_embd // c.n_head)  # + the spare position
        return SlotCache(k=p.new_zeros(shape), v=p.new_zeros(shape), tokens=[[] for _ in range(rows)], pos=[0] * rows)

    def feed_slots(self, cache: SlotCache, rows: list[int], chunks: list[list[int]]) -> torch.Tensor:
        """Feed each row in ``rows`` its own tokens after what it holds; the next-token logits ``[k, V]``.

        A row at ``pos`` 0 starts fresh (a new request in a freed slot). A row whose window would overflow
        slides as :meth:`prefill` does (its newest ``max(block/2, T)`` tokens re-encoded from position 0),
        so every row decodes exactly as it would alone. Rows fed one token go through one batched step;
        longer chunks (prompts, slides) through one padded call of their own.
        """
        block = self.block_size
        chunks = [list(c) for c in chunks]
        for i, row in enumerate(rows):
            pos = cache.pos[row]
            if pos + len(chunks[i]) > block:
                context = cache.tokens[row][:pos] + chunks[i]
                chunks[i] = context[-min(max(block // 2, len(chunks[i])), block):]
                cache.pos[row] = 0
        single = [i for i, c in enumerate(chunks) if len(c) == 1]
        longer = [i for i, c in enumerate(chunks) if len(c) > 1]
        if not (single and longer):
            return self._feed_rows(cache, rows, chunks)
        out = torch.empty(len(rows), self.vocab_size, device=cache.k.device)
        for group in (single, longer):
            out[group] = self._feed_rows(cache, [rows[i] for i in group], [chunks[i] for i in group]).float()
        return out

    def _feed_rows(self, cache: SlotCache, rows: list[int], chunks: list[list[int]]) -> torch.Tensor:
        """Each row's chunk (right-padded to the longest) at the row's own positions: logits ``[k, V]``."""
        device = cache.k.device
        T = max(len(c) for c in chunks)
        starts = [cache.pos[r] for r in rows]
        seen = max(p + len(c) for p, c in zip(starts, chunks))  # S: positions any query may look at
        ragged = any(len(c) != T for c in chunks)
        tokens = torch.tensor([c + [0] * (T - len(c)) for c in chunks], device=device)  # (k, T) right-padded
        row_ids = torch.tensor(rows, device=device)
        positions = torch.tensor(starts, device=device)[:, None] + torch.arange(T, device=device)  # (k, T)
        write_at = positions
        if ragged:  # padding → the spare position past the window, which no query ever sees
            lengths = torch.tensor([len(c) for c in chunks], device=device)
            real = torch.arange(T, device=device)[None, :] < lengths[:, None]  # (k, T): not padding
            write_at = torch.where(real, positions, self.block_size)
        visible = None  # (k, 1, T, S): which cached positions each query may see (None: all S)
        if T > 1 or min(starts) != seen - 1:  # else every row is at the same position: nothing to hide
            visible = (torch.arange(seen, device=device)[None, None, :] <= positions[:, :, None])[:, None]
        if fast_decoding(self):
            hidden = self._plan_rows(cache, rows, tokens, positions, write_at, seen, visible)
        else:
            cache.seen, cache.row_ids, cache.write_at = seen, row_ids, write_at
            cache.rows = slice(rows[0], rows[-1] + 1) if rows == list(range(rows[0], rows[-1] + 1)) else row_ids
            cache.mask = visible if visible is not None else torch.ones(1, 1, T, seen, dtype=torch.bool, device=device)
            hidden = self._run(tokens, cache, positions=positions.clamp(max=self.block_size - 1))  # (k, T, C)
        for row, chunk in zip(rows, chunks):
            _record(cache, row, chunk)
        ends = torch.tensor([len(c) - 1 for c in chunks], device=device)
        last = hidden[torch.arange(len(rows), device=device), ends]  # (k, C): each row's last real token
        head = cache.plan.head if fast_decoding(self) else self.lm_head
        return head(last).float()  # (k, V): float32 scores whatever the weights are stored in

    def _plan_rows(self, cache: SlotCache, rows: list[int], tokens: torch.Tensor, positions: torch.Tensor,
                   write_at: torch.Tensor, seen: int, visible: torch.Tensor | None) -> torch.Tensor:
        """:meth:`_feed_rows` through the decode plan: the final LayerNorm's output ``[k, T, C]``."""
        if cache.plan is None:
            cache.plan, cache.views = decode_plan(self), CacheViews.of(cache.k, cache.v)
        plan, views, device = cache.plan, cache.views, cache.k.device
        row_ids = torch.tensor(rows, device=device)
        first = rows[0]
        if rows == list(range(first, first + len(rows))):  # a block of slots: read it in place
            def read(view: torch.Tensor) -> torch.Tensor:
                return view.narrow(0, first, len(rows)).narrow(2, 0, seen)
        else:
            def read(view: torch.Tensor) -> torch.Tensor:
                return view.narrow(2, 0, seen).index_select(0, row_ids)
        where = (row_ids[:, None, None], views.heads, write_at[:, :, None])  # broadcast to (k, T, nh)

        def write_read(layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            views.k[layer].index_put_(where, k)
            views.v[layer].index_put_(where, v)
            return read(views.k[layer]), read(views.v[layer])

        bias = None
        if visible is not None:
            bias = plan.wpe.new_zeros(visible.shape).masked_fill_(~visible, float("-inf"))
        embedded = plan.wpe[positions.clamp(max=self.block_size - 1)]  # (k, T, C)
        return forward_rows(plan, tokens, embedded, write_read, bias)


def _record(cache: SlotCache, row: int, chunk: list[int]) -> None:
    """``chunk`` now fills ``row``'s positions from its ``pos`` on."""
    fed = cache.tokens[row]
    del fed[cache.pos[row]:]
    fed.extend(chunk)
    cache.pos[row] = len(fed)


def build(model_config: dict[str, Any]) -> GPT:
    """A randomly initialised GPT from a ``config.json["model"]`` dict."""
    names = {f.name for f in fields(GPTConfig)}
    return GPT(GPTConfig(**{k: v for k, v in model_config.items() if k in names}))


def model_config_dict(config: GPTConfig) -> dict[str, Any]:
    return {"family": "gpt", **asdict(config)}


def load(run_dir: Path, config: dict, device: str = "cpu", which: str = "best") -> GPT:
    """Rebuild a trained run's GPT for the registry (``best`` falls back to the latest weights)."""
    model = build(config["model"])
    load_weights(model, weights_path(Path(run_dir), which))
    return model.to(device).eval()
