"""Encoder–decoder models (course: "Encoder and Decoder") for sequence-to-sequence generation.

The encoder reads the whole source and turns it into contextual vectors, one per source token (the
*memory*); the decoder writes the target one token at a time, looking back at that memory through
attention. Two families, each in lecture order (embedding → encoder → attention → decoder → head):

- ``rnn-attn``: a bidirectional GRU/LSTM encoder (it sees past and future, so it needs the whole
  input) and a unidirectional recurrent decoder with additive (Bahdanau) or multiplicative (Luong)
  attention; during training a ``teacher_forcing`` ratio below 1 sometimes feeds the decoder its
  own previous prediction instead of the reference token.
- ``transformer``: an encoder of bidirectional self-attention and a decoder of masked self-attention
  plus cross-attention to the memory; sinusoidal or learned positions; source embedding, target
  embedding and output layer optionally share one matrix (when source and target share a vocabulary).

Both speak one decoding protocol, so greedy and beam search (``genlab.beam``) never ask which one
they hold: ``memory = encode(src)``, ``state = start(memory)``, ``step(tokens[B], state) ->
(logits[B, V], state)``, and ``reorder(state, index)`` to follow beams. ``forward(src, tgt_in)``
gives teacher-forced logits ``[B, T, V]`` for training and scoring. Token ids: ``<pad>`` (0) pads and
is masked everywhere, ``<bos>`` (2) starts the target, ``<eos>`` (3) ends source and target.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genlab.errors import GenlabError
from genlab.tokenizers import PAD_ID

State = dict[str, Any]


# --------------------------------------------------------------------------------------------- configs


@dataclass
class RNNAttnConfig:
    family: str = "rnn-attn"
    src_vocab_size: int = 0
    tgt_vocab_size: int = 0
    n_embd: int = 128  # embedding size and recurrent state size (each direction of the encoder)
    n_layer: int = 1
    dropout: float = 0.1
    cell: str = "gru"  # gru | lstm
    attention: str = "bahdanau"  # bahdanau (additive) | luong (multiplicative, "general", input feeding)
    teacher_forcing: float = 1.0  # probability of feeding the reference token during training


@dataclass
class TransformerConfig:
    family: str = "transformer"
    src_vocab_size: int = 0
    tgt_vocab_size: int = 0
    n_embd: int = 128
    n_head: int = 4
    n_layer: int = 2  # encoder layers, and as many decoder layers
    dropout: float = 0.1
    positions: str = "sinusoidal"  # sinusoidal | learned
    max_positions: int = 256  # longest source or target (learned positions cannot go beyond it)
    share_embeddings: bool = True  # one matrix for source/target embeddings and output (shared vocab only)


def config_from_dict(data: dict[str, Any]) -> RNNAttnConfig | TransformerConfig:
    """Rebuild a config from ``config.json["model"]``; unknown keys are ignored, bad values refused."""
    family = data.get("family")
    cls = {"rnn-attn": RNNAttnConfig, "transformer": TransformerConfig}.get(family)
    if cls is None:
        raise GenlabError(f"not an encoder-decoder family: {family!r} (expected rnn-attn or transformer)")
    cfg = cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})
    validate(cfg)
    return cfg


def validate(cfg: RNNAttnConfig | TransformerConfig) -> None:
    if cfg.src_vocab_size < 5 or cfg.tgt_vocab_size < 5:
        raise GenlabError("vocabularies must hold more than the 4 special tokens; re-run `genlab prepare --pairs`")
    if not 0 <= cfg.dropout < 1:
        raise GenlabError(f"--dropout must be in [0, 1), got {cfg.dropout}")
    if isinstance(cfg, RNNAttnConfig):
        if cfg.cell not in ("gru", "lstm"):
            raise GenlabError(f"--cell must be gru or lstm, got {cfg.cell!r}")
        if cfg.attention not in ("bahdanau", "luong"):
            raise GenlabError(f"--attention must be bahdanau or luong, got {cfg.attention!r}")
        if not 0 <= cfg.teacher_forcing <= 1:
            raise GenlabError(f"--teacher-forcing is a ratio in [0, 1], got {cfg.teacher_forcing}")
    else:
        if cfg.n_embd % cfg.n_head:
            raise GenlabError(f"--n-embd {cfg.n_embd} must be divisible by --n-head {cfg.n_head}")
        if cfg.positions not in ("sinusoidal", "learned"):
            raise GenlabError(f"--positions must be sinusoidal or learned, got {cfg.positions!r}")
        if cfg.share_embeddings and cfg.src_vocab_size != cfg.tgt_vocab_size:
            raise GenlabError("shared embeddings need one vocabulary for both sides: prepare with --shared-vocab "
                              "or train with --no-tie-weights")


def _select(x: torch.Tensor, index: torch.Tensor, dim: int) -> torch.Tensor:
    return x.index_select(dim, index)


# --------------------------------------------------------------------------------------------- rnn-attn


class BahdanauAttention(nn.Module):
    """Additive attention: ``score(s, h_j) = vᵀ tanh(W s + U h_j)`` (Bahdanau et al., 2015)."""

    def __init__(self, query_dim: int, memory_dim: int, attn_dim: int) -> None:
        super().__init__()
        self.query = nn.Linear(query_dim, attn_dim, bias=False)
        self.key = nn.Linear(memory_dim, attn_dim)
        self.v = nn.Linear(attn_dim, 1, bias=False)

    def keys(self, memory: torch.Tensor) -> torch.Tensor:
        """``U h_j`` for every source position, computed once per sentence: ``[B, S, A]``."""
        return self.key(memory)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, memory: torch.Tensor, mask: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        scores = self.v(torch.tanh(keys + self.query(query).unsqueeze(1))).squeeze(-1)  # (B, S)
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
        return torch.bmm(weights.unsqueeze(1), memory).squeeze(1), weights  # (B, 2H), (B, S)


class LuongAttention(nn.Module):
    """Multiplicative ("general") attention: ``score(s, h_j) = sᵀ W h_j`` (Luong et al., 2015)."""

    def __init__(self, query_dim: int, memory_dim: int) -> None:
        super().__init__()
        self.key = nn.Linear(memory_dim, query_dim, bias=False)

    def keys(self, memory: torch.Tensor) -> torch.Tensor:
        return self.key(memory)  # (B, S, H)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, memory: torch.Tensor, mask: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        scores = torch.bmm(keys, query.unsqueeze(2)).squeeze(2)  # (B, S)
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
        return torch.bmm(weights.unsqueeze(1), memory).squeeze(1), weights


class RNNEncoder(nn.Module):
    """Embedding → bidirectional GRU/LSTM: every source token gets a vector that saw the whole sentence."""

    def __init__(self, cfg: RNNAttnConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.src_vocab_size, cfg.n_embd, padding_idx=PAD_ID)
        rnn = nn.GRU if cfg.cell == "gru" else nn.LSTM
        self.rnn = rnn(cfg.n_embd, cfg.n_embd, num_layers=cfg.n_layer, batch_first=True, bidirectional=True,
                       dropout=cfg.dropout if cfg.n_layer > 1 else 0.0)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, src: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, Any]:
        lengths = mask.sum(dim=1).clamp(min=1).cpu()
        x = self.drop(self.embed(src))  # (B, S, E)
        # packing makes the backward direction start at each sentence's last real token, not at padding
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, final = self.rnn(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])
        return out, final  # (B, S, 2H); final: (2L, B, H) or a (h, c) pair of them


class RNNAttnSeq2Seq(nn.Module):
    """Bidirectional recurrent encoder → attention → recurrent decoder → vocabulary."""

    is_seq2seq = True
    context_size = None

    def __init__(self, cfg: RNNAttnConfig) -> None:
        super().__init__()
        validate(cfg)
        self.cfg = cfg
        self.vocab_size = cfg.tgt_vocab_size
        self.block_size: int | None = None
        H, E = cfg.n_embd, cfg.n_embd
        self.encoder = RNNEncoder(cfg)
        # the encoder's final forward+backward states, squeezed to the decoder's initial state
        self.bridge = nn.Linear(2 * H, H)
        self.embed = nn.Embedding(cfg.tgt_vocab_size, E, padding_idx=PAD_ID)
        if cfg.attention == "bahdanau":
            self.attention: nn.Module = BahdanauAttention(H, 2 * H, H)
            rnn_in, combine_in = E + 2 * H, H + 2 * H + E
        else:
            self.attention = LuongAttention(H, 2 * H)
            rnn_in, combine_in = E + H, H + 2 * H  # input feeding: the previous attentional vector
        rnn = nn.GRU if cfg.cell == "gru" else nn.LSTM
        self.decoder = rnn(rnn_in, H, num_layers=cfg.n_layer, batch_first=True,
                           dropout=cfg.dropout if cfg.n_layer > 1 else 0.0)
        self.combine = nn.Linear(combine_in, H)  # the "attentional hidden state" h̃_t
        self.head = nn.Linear(H, cfg.tgt_vocab_size)
        self.drop = nn.Dropout(cfg.dropout)

    # -- encoder side
    def encode(self, src: torch.Tensor) -> State:
        """Read the source ``[B, S]`` once: memory, its attention keys, pad mask and initial decoder state."""
        mask = src != PAD_ID
        memory, final = self.encoder(src, mask)
        L, H = self.cfg.n_layer, self.cfg.n_embd

        def bridge(h: torch.Tensor) -> torch.Tensor:  # (2L, B, H) -> (L, B, H)
            h = h.view(L, 2, h.shape[1], H)
            return torch.tanh(self.bridge(torch.cat([h[:, 0], h[:, 1]], dim=-1))).contiguous()

        enc = {"memory": memory, "keys": self.attention.keys(memory), "mask": mask}
        if self.cfg.cell == "lstm":
            enc["h"], enc["c"] = bridge(final[0]), bridge(final[1])
        else:
            enc["h"] = bridge(final)
        return enc

    def start(self, enc: State) -> State:
        """Decoder state before the first target token (``<bos>`` is fed by the caller)."""
        state = dict(enc)
        B, S = enc["mask"].shape
        state["feed"] = enc["memory"].new_zeros(B, self.cfg.n_embd)
        state["attn"] = enc["memory"].new_zeros(B, S)
        return state

    # -- decoder side
    def step(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """Feed one target token per row: ``[B] -> ([B, V] logits, new state)``."""
        e = self.drop(self.embed(tokens))  # (B, E)
        hidden = (state["h"], state["c"]) if self.cfg.cell == "lstm" else state["h"]
        if self.cfg.attention == "bahdanau":
            # attend with the previous top-layer state s_{t-1}, then update the recurrent state
            context, weights = self.attention(state["h"][-1], state["keys"], state["memory"], state["mask"])
            out, hidden = self.decoder(torch.cat([e, context], dim=-1).unsqueeze(1), hidden)
            s = out[:, 0]
            feed = torch.tanh(self.combine(torch.cat([s, context, e], dim=-1)))
        else:
            # update first (fed the previous attentional vector), then attend with the new state s_t
            out, hidden = self.decoder(torch.cat([e, state["feed"]], dim=-1).unsqueeze(1), hidden)
            s = out[:, 0]
            context, weights = self.attention(s, state["keys"], state["memory"], state["mask"])
            feed = torch.tanh(self.combine(torch.cat([s, context], dim=-1)))
        logits = self.head(self.drop(feed))
        new = dict(state)
        if self.cfg.cell == "lstm":
            new["h"], new["c"] = hidden
        else:
            new["h"] = hidden
        new["feed"], new["attn"] = feed, weights
        return logits, new

    def reorder(self, state: State, index: torch.Tensor) -> State:
        """Pick rows ``index`` of every tensor in the state (beam search follows its surviving beams)."""
        return {k: _select(v, index, 1 if k in ("h", "c") else 0) for k, v in state.items()}

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor, return_attention: bool = False):
        """Logits ``[B, T, V]`` for every target position (and ``[B, T, S]`` attention weights if asked).

        ``tgt_in`` is ``<bos>`` + target. In training mode, each position is fed the model's own previous
        prediction instead of the reference with probability ``1 - teacher_forcing``.
        """
        state = self.start(self.encode(src))
        use_own = self.training and self.cfg.teacher_forcing < 1
        tokens = tgt_in[:, 0]
        outputs, attention = [], []
        for t in range(tgt_in.shape[1]):
            logits, state = self.step(tokens, state)
            outputs.append(logits)
            attention.append(state["attn"])
            if t + 1 < tgt_in.shape[1]:
                tokens = tgt_in[:, t + 1]
                if use_own:
                    forced = torch.rand(tokens.shape, device=tokens.device) < self.cfg.teacher_forcing
                    tokens = torch.where(forced, tokens, logits.detach().argmax(dim=-1))
        logits = torch.stack(outputs, dim=1)
        return (logits, torch.stack(attention, dim=1)) if return_attention else logits

    logits = forward


# --------------------------------------------------------------------------------------------- transformer


def sinusoidal_table(n_positions: int, dim: int) -> torch.Tensor:
    """``PE[pos, 2i] = sin(pos / 10000^(2i/d))``, ``PE[pos, 2i+1] = cos(...)`` (Vaswani et al., 2017)."""
    pos = torch.arange(n_positions, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(n_positions, dim)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)[:, : dim // 2]
    return table


class MultiHeadAttention(nn.Module):
    """Scaled dot-product attention in ``n_head`` subspaces; queries, keys and values are projections."""

    def __init__(self, n_embd: int, n_head: int, dropout: float) -> None:
        super().__init__()
        self.n_head = n_head
        self.q_proj = nn.Linear(n_embd, n_embd)
        self.k_proj = nn.Linear(n_embd, n_embd)
        self.v_proj = nn.Linear(n_embd, n_embd)
        self.out_proj = nn.Linear(n_embd, n_embd)
        self.drop = nn.Dropout(dropout)

    def heads(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        return x.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)

    def key_value(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.heads(self.k_proj(x)), self.heads(self.v_proj(x))

    def forward(self, x: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` [B, Tq, C] attends to keys/values [B, nh, Tk, hs]; ``mask`` (True = may attend) broadcasts
        to [B, nh, Tq, Tk]. Returns the output [B, Tq, C] and the weights [B, nh, Tq, Tk]."""
        q = self.heads(self.q_proj(x))
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])  # (B, nh, Tq, Tk)
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
        y = self.drop(weights) @ v  # (B, nh, Tq, hs)
        B, _, T, _ = y.shape
        return self.out_proj(y.transpose(1, 2).reshape(B, T, -1)), weights


class FeedForward(nn.Module):
    def __init__(self, n_embd: int, dropout: float) -> None:
        super().__init__()
        self.fc = nn.Linear(n_embd, 4 * n_embd)
        self.proj = nn.Linear(4 * n_embd, n_embd)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.proj(F.gelu(self.fc(x))))


class EncoderLayer(nn.Module):
    """Bidirectional self-attention (every source token sees every other) → feed-forward; pre-norm."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd)
        self.attn = MultiHeadAttention(cfg.n_embd, cfg.n_head, cfg.dropout)
        self.ln_2 = nn.LayerNorm(cfg.n_embd)
        self.mlp = FeedForward(cfg.n_embd, cfg.dropout)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.ln_1(x)
        x = x + self.drop(self.attn(h, *self.attn.key_value(h), mask)[0])
        return x + self.mlp(self.ln_2(x))


class DecoderLayer(nn.Module):
    """Masked self-attention (only earlier target tokens) → cross-attention to the memory → feed-forward."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd)
        self.self_attn = MultiHeadAttention(cfg.n_embd, cfg.n_head, cfg.dropout)
        self.ln_2 = nn.LayerNorm(cfg.n_embd)
        self.cross_attn = MultiHeadAttention(cfg.n_embd, cfg.n_head, cfg.dropout)
        self.ln_3 = nn.LayerNorm(cfg.n_embd)
        self.mlp = FeedForward(cfg.n_embd, cfg.dropout)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, self_kv: tuple[torch.Tensor, torch.Tensor], self_mask: torch.Tensor,
                cross_kv: tuple[torch.Tensor, torch.Tensor], cross_mask: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """``self_kv`` are the keys/values of all target positions so far (the KV cache, this step included)."""
        x = x + self.drop(self.self_attn(self.ln_1(x), *self_kv, self_mask)[0])
        y, weights = self.cross_attn(self.ln_2(x), *cross_kv, cross_mask)
        x = x + self.drop(y)
        return x + self.mlp(self.ln_3(x)), weights


class TransformerSeq2Seq(nn.Module):
    """Token + position embeddings → encoder layers → decoder layers (with cross-attention) → vocabulary."""

    is_seq2seq = True
    context_size = None

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        validate(cfg)
        self.cfg = cfg
        self.vocab_size = cfg.tgt_vocab_size
        self.block_size = cfg.max_positions
        C = cfg.n_embd
        self.src_embed = nn.Embedding(cfg.src_vocab_size, C, padding_idx=PAD_ID)
        self.tgt_embed = self.src_embed if cfg.share_embeddings else nn.Embedding(cfg.tgt_vocab_size, C,
                                                                                   padding_idx=PAD_ID)
        if cfg.positions == "learned":
            self.pos_embed = nn.Embedding(cfg.max_positions, C)
        else:
            self.register_buffer("pos_table", sinusoidal_table(cfg.max_positions, C), persistent=False)
        self.drop = nn.Dropout(cfg.dropout)
        self.encoder_layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.n_layer))
        self.ln_enc = nn.LayerNorm(C)
        self.decoder_layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.n_layer))
        self.ln_dec = nn.LayerNorm(C)
        self.head = nn.Linear(C, cfg.tgt_vocab_size, bias=False)
        # embeddings ~ N(0, 1/C), scaled by √C on the way in; tied to the head they give unit-scale logits
        for emb in {self.src_embed, self.tgt_embed}:
            nn.init.normal_(emb.weight, std=C**-0.5)
            with torch.no_grad():
                emb.weight[PAD_ID].zero_()
        if cfg.share_embeddings:
            self.head.weight = self.tgt_embed.weight

    def _embed(self, embedding: nn.Embedding, tokens: torch.Tensor, start: int = 0) -> torch.Tensor:
        T = tokens.shape[1]
        if start + T > self.cfg.max_positions:
            raise GenlabError(f"sequence of {start + T} tokens is longer than this model's {self.cfg.max_positions} "
                              "positions; shorten the input (or prepare with --max-length)")
        pos = torch.arange(start, start + T, device=tokens.device)
        p = self.pos_embed(pos) if self.cfg.positions == "learned" else self.pos_table[pos]
        return self.drop(embedding(tokens) * math.sqrt(self.cfg.n_embd) + p)  # (B, T, C)

    # -- encoder side
    def encode(self, src: torch.Tensor) -> State:
        """Read the source ``[B, S]`` once: memory ``[B, S, C]`` and its pad mask."""
        mask = (src != PAD_ID)[:, None, None, :]  # (B, 1, 1, S): no query may attend to padding
        x = self._embed(self.src_embed, src)
        for layer in self.encoder_layers:
            x = layer(x, mask)
        return {"memory": self.ln_enc(x), "mask": mask}

    def start(self, enc: State) -> State:
        """Empty self-attention cache, and each layer's cross-attention keys/values computed once."""
        memory = enc["memory"]
        B, S, _ = memory.shape
        state: State = {"mask": enc["mask"], "attn": memory.new_zeros(B, S), "pos": 0}
        empty = memory.new_zeros(B, self.cfg.n_head, 0, self.cfg.n_embd // self.cfg.n_head)
        for i, layer in enumerate(self.decoder_layers):
            state[f"cross_k{i}"], state[f"cross_v{i}"] = layer.cross_attn.key_value(memory)
            state[f"self_k{i}"], state[f"self_v{i}"] = empty, empty
        return state

    # -- decoder side
    def step(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """Feed one target token per row ``[B]`` against the cache: ``([B, V] logits, new state)``."""
        new = dict(state)
        x = self._embed(self.tgt_embed, tokens.unsqueeze(1), start=state["pos"])  # (B, 1, C)
        keep = torch.ones(1, 1, 1, 1, dtype=torch.bool, device=x.device)  # the new query sees all cached keys
        weights = None
        for i, layer in enumerate(self.decoder_layers):
            k, v = layer.self_attn.key_value(layer.ln_1(x))
            k = torch.cat([state[f"self_k{i}"], k], dim=2)
            v = torch.cat([state[f"self_v{i}"], v], dim=2)
            new[f"self_k{i}"], new[f"self_v{i}"] = k, v
            x, weights = layer(x, (k, v), keep, (state[f"cross_k{i}"], state[f"cross_v{i}"]), state["mask"])
        new["pos"] = state["pos"] + 1
        new["attn"] = weights[:, :, 0].mean(dim=1)  # last layer's cross-attention, averaged over heads: (B, S)
        return self.head(self.ln_dec(x[:, 0])), new

    def reorder(self, state: State, index: torch.Tensor) -> State:
        return {k: v if k == "pos" else _select(v, index, 0) for k, v in state.items()}

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor, return_attention: bool = False):
        """Teacher-forced logits ``[B, T, V]`` in one pass (and ``[B, T, S]`` cross-attention if asked)."""
        enc = self.encode(src)
        T = tgt_in.shape[1]
        causal = torch.tril(torch.ones(T, T, dtype=torch.bool, device=tgt_in.device))[None, None]  # (1,1,T,T)
        x = self._embed(self.tgt_embed, tgt_in)
        weights = None
        for layer in self.decoder_layers:
            h = layer.ln_1(x)
            x, weights = layer(x, layer.self_attn.key_value(h), causal,
                               layer.cross_attn.key_value(enc["memory"]), enc["mask"])
        logits = self.head(self.ln_dec(x))
        return (logits, weights.mean(dim=1)) if return_attention else logits

    logits = forward


# --------------------------------------------------------------------------------------------- build / load

Seq2SeqModel = RNNAttnSeq2Seq | TransformerSeq2Seq


def build(model_config: dict[str, Any]) -> Seq2SeqModel:
    cfg = config_from_dict(model_config)
    return RNNAttnSeq2Seq(cfg) if isinstance(cfg, RNNAttnConfig) else TransformerSeq2Seq(cfg)


def load(run_dir: Path, config: dict[str, Any], device: str = "cpu", which: str = "best") -> Seq2SeqModel:
    """Rebuild a trained encoder–decoder from its run directory (for ``models.registry``)."""
    from genlab.models.weights import load_weights, weights_path

    run_dir = Path(run_dir)
    model = build(config["model"])
    load_weights(model, weights_path(run_dir, which))
    return model.to(device).eval()


# --------------------------------------------------------------------------------------------- training task

DEFAULTS: dict[str, dict[str, Any]] = {
    "rnn-attn": asdict(RNNAttnConfig()),
    "transformer": asdict(TransformerConfig()),
}

#: preset name -> model-config overrides (``genlab train --preset``)
PRESETS: dict[str, dict[str, Any]] = {
    "rnn-attn-tiny": {"family": "rnn-attn", "n_embd": 64},
    "rnn-attn-small": {"family": "rnn-attn", "n_embd": 256, "n_layer": 2, "dropout": 0.2},
    "transformer-tiny": {"family": "transformer", "n_embd": 64, "n_head": 4, "n_layer": 2},
    "transformer-small": {"family": "transformer", "n_embd": 256, "n_head": 8, "n_layer": 3, "dropout": 0.2},
}
