"""Decoding an encoder–decoder: greedy search and beam search, batched over sentences.

Greedy search takes the most likely token at every step. Beam search keeps the ``beam_size`` most
likely partial translations (*beams*) of each sentence, extends each by every token, and keeps the
best ``beam_size`` that do not end; a candidate ending in ``<eos>`` (among the ``beam_size`` best) is
set aside as finished, and the best ``beam_size`` finished ones are kept. A sentence is done when no
live beam can still beat them: with ``beam_size`` finished hypotheses the live beams, scored at their
current length, must fall below the worst of them (the rule of GNMT and Hugging Face), and in any case
once no live beam could ever beat the best one (exact: it cannot change the answer); or at its maximum
length (``max_length_ratio`` × source length + ``max_length_extra``). Finished hypotheses are ranked
by log-probability divided by the GNMT length penalty ``((5 + |y|) / 6) ** length_penalty``, so longer
outputs are not unfairly punished; ``score`` is always the plain log-probability.

Both speak only the model's decoding protocol (``encode``, ``start``, ``step``, ``reorder``), so they
work for ``rnn-attn`` and ``transformer`` alike. With ``beam_size=1`` beam search returns exactly
what greedy search returns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from genlab.beam_defaults import DEFAULT_LENGTH_PENALTY, DEFAULT_MAX_LENGTH_EXTRA, DEFAULT_MAX_LENGTH_RATIO, MAX_BEAM
from genlab.errors import GenlabError
from genlab.tokenizers import BOS_ID, EOS_ID, Tokenizer


@dataclass
class Hypothesis:
    """One decoded target: ``tokens`` (no ``<bos>``/``<eos>``), ``score`` = log P(tokens [+ <eos>] | source)."""

    tokens: list[int]
    score: float
    normalized: float
    finish_reason: str  # "eos" or "length"
    #: n-best alternatives, best first (beam search only; the first is this hypothesis)
    alternatives: list[Hypothesis] = field(default_factory=list, repr=False)


def length_penalty(length: int, alpha: float) -> float:
    """GNMT length penalty (Wu et al., 2016); ``alpha = 0`` ranks by raw log-probability."""
    return ((5.0 + length) / 6.0) ** alpha if alpha else 1.0


def _max_lengths(src: torch.Tensor, ratio: float, extra: int, model) -> list[int]:
    from genlab.tokenizers import PAD_ID

    lengths = (src != PAD_ID).sum(dim=1).tolist()
    limit = getattr(model, "block_size", None)
    out = []
    for n in lengths:
        m = int(math.ceil(ratio * n)) + extra
        if limit:
            m = min(m, limit - 1)  # room for <bos> in the positions
        out.append(max(m, 1))
    return out


def _log_softmax(logits: torch.Tensor) -> torch.Tensor:
    return torch.log_softmax(logits.float(), dim=-1)


@torch.no_grad()
def greedy(model, src: torch.Tensor, max_length_ratio: float = DEFAULT_MAX_LENGTH_RATIO,
           max_length_extra: int = DEFAULT_MAX_LENGTH_EXTRA) -> list[Hypothesis]:
    """The most likely token at every step, for a batch of padded sources ``[B, S]``."""
    B = src.shape[0]
    limits = _max_lengths(src, max_length_ratio, max_length_extra, model)
    state = model.start(model.encode(src))
    tokens = torch.full((B,), BOS_ID, dtype=torch.long, device=src.device)
    out: list[list[int]] = [[] for _ in range(B)]
    scores = [0.0] * B
    reasons: list[str | None] = [None] * B
    for _ in range(max(limits)):
        logprobs, state = model.step(tokens, state)
        logprobs = _log_softmax(logprobs)
        best = logprobs.argmax(dim=-1)
        chosen = logprobs.gather(1, best.unsqueeze(1)).squeeze(1).tolist()
        for i, tok in enumerate(best.tolist()):
            if reasons[i] is not None:
                continue
            scores[i] += chosen[i]
            if tok == EOS_ID:
                reasons[i] = "eos"
            else:
                out[i].append(tok)
                if len(out[i]) >= limits[i]:
                    reasons[i] = "length"
        if all(r is not None for r in reasons):
            break
        tokens = best
    return [Hypothesis(out[i], scores[i], scores[i], reasons[i] or "length") for i in range(B)]


@torch.no_grad()
def beam_search(model, src: torch.Tensor, beam_size: int = 5, length_penalty_alpha: float = DEFAULT_LENGTH_PENALTY,
                max_length_ratio: float = DEFAULT_MAX_LENGTH_RATIO, max_length_extra: int = DEFAULT_MAX_LENGTH_EXTRA,
                n_best: int = 1) -> list[Hypothesis]:
    """Beam search over a batch of padded sources ``[B, S]``; returns the best hypothesis per sentence
    (with up to ``n_best`` ranked ``alternatives``)."""
    if not 1 <= beam_size <= MAX_BEAM:
        raise GenlabError(f"--beam {beam_size}: give a beam from 1 to {MAX_BEAM} (4-10 is usual)")
    B, K = src.shape[0], beam_size
    device = src.device
    limits = _max_lengths(src, max_length_ratio, max_length_extra, model)
    state = model.start(model.encode(src))
    state = model.reorder(state, torch.arange(B, device=device).repeat_interleave(K))  # (B*K) rows
    tokens = torch.full((B * K,), BOS_ID, dtype=torch.long, device=device)
    # only the first beam of each sentence is live at the start (the others would duplicate it)
    beam_scores = torch.full((B, K), float("-inf"), device=device)
    beam_scores[:, 0] = 0.0
    prefixes: list[list[list[int]]] = [[[] for _ in range(K)] for _ in range(B)]
    finished: list[list[Hypothesis]] = [[] for _ in range(B)]
    done = [False] * B

    def kept(i: int) -> list[Hypothesis]:
        """The best ``K`` finished hypotheses of sentence ``i`` (best first)."""
        finished[i].sort(key=lambda h: h.normalized, reverse=True)
        del finished[i][K:]
        return finished[i]

    for t in range(max(limits)):
        logits, state = model.step(tokens, state)
        logprobs = _log_softmax(logits)  # (B*K, V)
        V = logprobs.shape[-1]
        candidates = (beam_scores.view(B * K, 1) + logprobs).view(B, K * V)
        # 2K candidates: at most K of them end in <eos>, so K live beams can always be refilled
        top_scores, top_ids = candidates.topk(min(2 * K, K * V), dim=1)
        top_scores, top_ids = top_scores.tolist(), top_ids.tolist()
        next_rows = list(range(B * K))  # which old row each new row continues (dead rows keep themselves)
        next_tokens = [EOS_ID] * (B * K)
        new_scores = [[float("-inf")] * K for _ in range(B)]
        new_prefixes: list[list[list[int]]] = [[[] for _ in range(K)] for _ in range(B)]
        for i in range(B):
            if done[i]:
                continue
            live = 0
            for rank, (score, flat) in enumerate(zip(top_scores[i], top_ids[i])):
                if score == float("-inf") or live == K:
                    break
                beam, tok = divmod(flat, V)
                prefix = prefixes[i][beam]
                if tok == EOS_ID:
                    if rank < K:  # an ending counts only if it is among the K best candidates
                        norm = score / length_penalty(len(prefix) + 1, length_penalty_alpha)
                        finished[i].append(Hypothesis(list(prefix), score, norm, "eos"))
                    continue
                new_prefixes[i][live] = prefix + [tok]
                new_scores[i][live] = score
                next_rows[i * K + live] = i * K + beam
                next_tokens[i * K + live] = tok
                live += 1
            reached = t + 1 >= limits[i]
            if reached:  # out of room: the live beams end here, without <eos>
                for b in range(live):
                    s = new_scores[i][b]
                    norm = s / length_penalty(len(new_prefixes[i][b]), length_penalty_alpha)
                    finished[i].append(Hypothesis(new_prefixes[i][b], s, norm, "length"))
            ends = kept(i)
            best_live = max(new_scores[i][:live], default=float("-inf"))
            # A live beam's log-probability only falls as it grows. Exact: with no length penalty (or,
            # with one, dividing by its largest value, at the limit) no live beam can beat the best
            # ending → the answer is settled. Beam full: K endings, and the live beams, scored at
            # their current length (GNMT/HF's rule), cannot beat the worst of them.
            exact = best_live / length_penalty(limits[i] + 1, length_penalty_alpha)
            current = best_live / length_penalty(t + 1, length_penalty_alpha)
            settled = bool(ends) and ends[0].normalized >= exact
            full = len(ends) >= K and ends[-1].normalized >= current
            if reached or live == 0 or settled or full:
                done[i] = True
                new_scores[i] = [float("-inf")] * K
        if all(done):
            break
        beam_scores = torch.tensor(new_scores, device=device)
        prefixes = new_prefixes
        state = model.reorder(state, torch.tensor(next_rows, device=device))
        tokens = torch.tensor(next_tokens, device=device)
    results = []
    for i in range(B):
        ranked = kept(i)
        best = ranked[0]
        best.alternatives = ranked[:max(n_best, 1)]
        results.append(best)
    return results


def decode_batch(model, src: torch.Tensor, beam_size: int = 1, length_penalty_alpha: float = DEFAULT_LENGTH_PENALTY,
                 max_length_ratio: float = DEFAULT_MAX_LENGTH_RATIO) -> list[Hypothesis]:
    """Greedy for ``beam_size == 1``, beam search otherwise."""
    if beam_size == 1:
        return greedy(model, src, max_length_ratio)
    return beam_search(model, src, beam_size, length_penalty_alpha, max_length_ratio)


def encode_sources(tokenizer: Tokenizer, texts: Sequence[str], device: str = "cpu") -> torch.Tensor:
    """Source texts → one right-padded ``[B, S]`` batch as the encoder expects (each ends in ``<eos>``)."""
    from genlab.pairs import encode_source, pad_batch

    return pad_batch([encode_source(tokenizer, t) for t in texts]).to(device)


def translate_texts(model, source_tokenizer: Tokenizer, target_tokenizer: Tokenizer, texts: Sequence[str],
                    beam_size: int = 1, length_penalty_alpha: float = DEFAULT_LENGTH_PENALTY,
                    max_length_ratio: float = DEFAULT_MAX_LENGTH_RATIO, batch_size: int = 64,
                    device: str = "cpu", progress: bool = False) -> list[str]:
    """Translate many sentences, ``batch_size`` at a time (sorted by length so batches pad little)."""
    from tqdm.auto import tqdm

    order = np.argsort([len(t) for t in texts], kind="stable")
    out: list[str] = [""] * len(texts)
    bar = tqdm(total=len(texts), desc=f"translate (beam {beam_size})", unit="sent", disable=not progress,
               mininterval=0.5, dynamic_ncols=True)
    for start in range(0, len(texts), batch_size):
        chunk = [int(i) for i in order[start:start + batch_size]]
        src = encode_sources(source_tokenizer, [texts[i] for i in chunk], device)
        for i, hyp in zip(chunk, decode_batch(model, src, beam_size, length_penalty_alpha, max_length_ratio)):
            out[i] = target_tokenizer.decode(hyp.tokens)
        bar.update(len(chunk))
    bar.close()
    return out
