"""Text generation: the one sampling loop every language model shares.

Greedy (temperature 0), temperature, top-k and top-p (nucleus) sampling, a seed that makes output
repeatable, stop sequences, ``<eos>``, and streaming. Each step feeds one token through the model's
``step`` (its n-gram context, hidden state or KV cache): the prefix is never re-run.

Streaming text never shows a broken character: byte-level BPE may end a token inside a UTF-8
sequence (one Hangul syllable is 3 bytes), and jamo tokens recompose into a syllable only when the
syllable is complete, so :class:`StreamDecoder` holds such text back until it is final.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from genlab.errors import GenlabError
from genlab.models.protocol import LanguageModel, prefill
from genlab.tokenizers import EOS_ID, Tokenizer

if TYPE_CHECKING:
    from genlab.structured import Constraint, Grammar


@dataclass
class SamplingConfig:
    max_tokens: int = 200
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: Sequence[str] = ()
    stop_at_eos: bool = True
    #: token ids that end a sample like ``<eos>`` (a chat run's end-of-turn); they never show in the text
    stop_ids: Sequence[int] = ()
    #: how many alternatives to report with each token (0: none)
    top_logprobs: int = 0
    #: keep the output inside this grammar (structured outputs, :mod:`genlab.structured`): at each step
    #: only tokens that continue it may be chosen, and the end tokens only once it is complete
    grammar: Grammar | None = None

    def end_ids(self) -> set[int]:
        """The token ids that end a sample (they never show in the text)."""
        ends = {EOS_ID} if self.stop_at_eos else set()
        ends.update(int(i) for i in self.stop_ids)
        return ends

    def constraints(self, tokenizer: Tokenizer, num: int) -> list[Constraint] | None:
        """One fresh grammar constraint per sample (None without a grammar)."""
        if self.grammar is None:
            return None
        from genlab.structured import grammar_constraint

        first = grammar_constraint(tokenizer, self.grammar, self.end_ids())
        return [first] + [first.fork() for _ in range(num - 1)]

    def validate(self) -> None:
        if self.max_tokens < 0:
            raise GenlabError("--max-tokens must be ≥ 0")
        if not (0 <= self.temperature <= 100) or math.isnan(self.temperature):
            raise GenlabError("--temperature must be between 0 and 100 (0 = greedy)")
        if self.top_k is not None and self.top_k < 1:
            raise GenlabError("--top-k must be ≥ 1")
        if self.top_p is not None and not (0 < self.top_p <= 1):
            raise GenlabError("--top-p must be in (0, 1]")


def filter_logits(logits: torch.Tensor, top_k: int | None, top_p: float | None) -> torch.Tensor:
    """Mask all but the top-k tokens and the smallest set whose probability reaches top-p."""
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        before = torch.cumsum(probs, dim=-1) - probs  # mass strictly before each token
        drop_sorted = before >= top_p
        drop_sorted[..., 0] = False  # the most likely token always stays (even when the row is NaN)
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def _safe_log_softmax(logits: torch.Tensor) -> torch.Tensor:
    """log-softmax that turns an all -inf row (a context the model never saw) into a uniform row.

    A NaN or +inf score (weights broken by a diverged training run) is an error here, once per step:
    greedy decoding would otherwise pick garbage silently and sampling fail deep inside PyTorch.
    """
    logits = logits.float()
    dead = torch.isneginf(logits).all(dim=-1, keepdim=True)
    logits = torch.where(dead, torch.zeros_like(logits), logits)
    out = torch.log_softmax(logits, dim=-1)
    if bool(torch.isnan(out).any()):
        raise GenlabError("the model's next-token scores are not finite (NaN or inf): its weights are damaged, "
                          "e.g. by a training run that diverged; retrain it, or resume an earlier checkpoint "
                          "with a lower --lr")
    return out


def constrained_logprobs(logprobs: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """Log-probabilities renormalised over the ``allowed`` tokens of each row (``[B, V]`` bool).

    A row whose model gives every allowed token zero probability (a Markov context never seen with
    them) becomes uniform over the allowed tokens, so a constrained row never samples outside its mask.
    """
    masked = logprobs.masked_fill(~allowed, float("-inf"))
    dead = torch.isneginf(masked).all(dim=-1, keepdim=True)
    masked = torch.where(dead & allowed, torch.zeros_like(masked), masked)
    return torch.log_softmax(masked, dim=-1)


def grammar_masks(constraints: Sequence[Constraint | None], vocab: int, device: torch.device) -> torch.Tensor:
    """``[B, vocab]`` allowed tokens: each constraint's mask, every token for a row without one."""
    rows = [torch.ones(vocab, dtype=torch.bool) if c is None else c.allowed_mask(vocab) for c in constraints]
    return torch.stack(rows).to(device)


#: temperatures below this sample like greedy decoding (dividing by them overflows float32)
GREEDY_BELOW = 1e-5


def choose(logits: torch.Tensor, cfg: SamplingConfig, generator: torch.Generator | None,
           logprobs: torch.Tensor | None = None) -> torch.Tensor:
    """Pick the next token per row from ``[B, V]`` scores (``logprobs``: their log-softmax, if known)."""
    if logprobs is None:
        logprobs = _safe_log_softmax(logits)
    if cfg.temperature < GREEDY_BELOW:
        return logprobs.argmax(dim=-1)
    # shifting each row so its best token scores 0 keeps that token finite after dividing by a small
    # temperature, so softmax never sees a row of -inf (which would give NaN probabilities)
    shifted = logprobs - logprobs.max(dim=-1, keepdim=True).values
    scaled = filter_logits(shifted / cfg.temperature, cfg.top_k, cfg.top_p)
    probs = torch.softmax(scaled, dim=-1)
    return torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(-1).to(logits.device)


def choose_rows(logprobs: torch.Tensor, cfgs: Sequence[SamplingConfig],
                generators: Sequence[torch.Generator | None]) -> torch.Tensor:
    """:func:`choose` for rows that each have their own settings and generator (a server's batch).

    Row ``i`` gets exactly the token ``choose(logits[i:i+1], cfgs[i], generators[i])`` gives: the same
    operations, one row at a time in each kernel (so the same values bit for bit), and one draw from the
    row's own generator; but the filtering runs once for all rows instead of once per row. Rows without
    a generator draw from PyTorch's global one together.
    """
    nxt = logprobs.argmax(dim=-1)  # what greedy rows keep
    sampled = [i for i, cfg in enumerate(cfgs) if cfg.temperature >= GREEDY_BELOW]
    if not sampled:
        return nxt
    device, rows = logprobs.device, logprobs[sampled] if len(sampled) < len(cfgs) else logprobs
    vocab = rows.shape[-1]
    picked = [cfgs[i] for i in sampled]
    temperature = torch.tensor([c.temperature for c in picked], dtype=rows.dtype, device=device)[:, None]
    scaled = (rows - rows.max(dim=-1, keepdim=True).values) / temperature
    if any(c.top_k is not None and c.top_k < vocab for c in picked):
        top_k = torch.tensor([min(c.top_k or vocab, vocab) for c in picked], device=device)
        kth = torch.sort(scaled, dim=-1, descending=True).values.gather(-1, top_k[:, None] - 1)  # (k, 1)
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    if any(c.top_p is not None and c.top_p < 1.0 for c in picked):
        top_p = torch.tensor([c.top_p if c.top_p is not None and c.top_p < 1.0 else math.inf for c in picked],
                             dtype=rows.dtype, device=device)[:, None]
        sorted_logits, order = torch.sort(scaled, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        drop_sorted = torch.cumsum(probs, dim=-1) - probs >= top_p
        drop_sorted[..., 0] = False
        scaled = scaled.masked_fill(torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted), float("-inf"))
    probs = torch.softmax(scaled, dim=-1).cpu()
    shared = [j for j, i in enumerate(sampled) if generators[i] is None]
    draws = torch.empty(len(sampled), dtype=torch.long)
    if shared:
        draws[shared] = torch.multinomial(probs[shared], 1).squeeze(-1)
    for j, i in enumerate(sampled):
        if generators[i] is not None:
            draws[j] = torch.multinomial(probs[j:j + 1], 1, generator=generators[i])[0, 0]
    nxt[sampled] = draws.to(device)
    return nxt


class StreamDecoder:
    """Turns a growing list of token ids into text deltas that never need to be taken back.

    Text that a later token could still change is held back: an incomplete UTF-8 sequence, the
    tokenizer's ``stream_holdback`` characters, and any tail that could be the start of a stop
    sequence. When a stop sequence appears, ``stopped`` is set and the text before it is final.
    """

    def __init__(self, tokenizer: Tokenizer, stops: Sequence[str] = ()) -> None:
        self.tokenizer = tokenizer
        self.stops = [s for s in stops if s]
        self.ids: list[int] = []
        self.emitted = 0  # characters already returned
        self.stopped = False

    def text(self) -> str:
        return self.tokenizer.decode_bytes(self.ids).decode("utf-8", errors="replace")

    def _release(self, text: str, final: bool) -> str:
        if self.stopped:
            return ""
        # Text a later token can still change (jamo recomposition) is neither shown nor searched.
        stable = len(text) if final else max(self.emitted, len(text) - self.tokenizer.stream_holdback)
        window = text[:stable]
        # Released text never ends with the start of a stop sequence, so a stop can only begin here.
        hits = [p for p in (window.find(s, max(0, self.emitted - len(s) + 1)) for s in self.stops) if p >= 0]
        if hits:
            self.stopped = True
            cut = max(self.emitted, min(hits))
        elif final:
            cut = stable
        else:
            cut = stable - max((_overlap(window, stop) for stop in self.stops), default=0)
            cut = max(self.emitted, cut)
        delta = text[self.emitted:cut]
        self.emitted = cut
        return delta

    def push(self, token_id: int) -> str:
        self.ids.append(token_id)
        raw = _complete_utf8_prefix(self.tokenizer.decode_bytes(self.ids))
        return self._release(raw.decode("utf-8", errors="replace"), final=False)

    def flush(self) -> str:
        return self._release(self.text(), final=True)


def _overlap(text: str, stop: str) -> int:
    """Length of the longest end of ``text`` that is a proper beginning of ``stop``."""
    for k in range(min(len(stop) - 1, len(text)), 0, -1):
        if text.endswith(stop[:k]):
            return k
    return 0


def _complete_utf8_prefix(raw: bytes) -> bytes:
    """Drop a trailing incomplete UTF-8 sequence (at most 3 bytes) that a later token may complete."""
    for back in range(1, min(4, len(raw)) + 1):
        byte = raw[-back]
        if byte & 0xC0 != 0x80:  # a lead byte or ASCII
            need = 1 if byte < 0x80 else 2 if byte >> 5 == 0b110 else 3 if byte >> 4 == 0b1110 else 4 \
                if byte >> 3 == 0b11110 else 1
            return raw if back >= need else raw[:-back]
    return raw


@dataclass
class TokenInfo:
    id: int
    text: str  # this token's own text (may be a fragment of a character)
    logprob: float
    top: list[tuple[int, str, float]] = field(default_factory=list)


@dataclass
class Delta:
    """One streaming event for sample ``index``: new stable text, the token behind it, or the end."""

    index: int
    text: str
    token: TokenInfo | None = None
    finish_reason: str | None = None


def stream(model: LanguageModel, tokenizer: Tokenizer, prompt: str | Sequence[int], cfg: SamplingConfig,
           num: int = 1, device: str | torch.device = "cpu") -> Iterator[Delta]:
    """Generate ``num`` continuations of ``prompt`` as a batch, yielding text as soon as it is final."""
    cfg.validate()
    if num < 1:
        raise GenlabError("--num must be ≥ 1")
    prompt_ids = tokenizer.encode(prompt) if isinstance(prompt, str) else list(prompt)
    if cfg.max_tokens == 0:
        for i in range(num):
            yield Delta(i, "", finish_reason="length")
        return
    ids_in = [EOS_ID] + prompt_ids  # <eos> first: the prompt starts a document
    block = getattr(model, "block_size", None)
    if block and len(ids_in) > block and getattr(model, "truncate_prompt", True):
        # A hard input limit (a GPT's positions): keep the prompt's end. The <eos> goes too, since
        # the model now sees the middle of a document, not its start.
        ids_in = ids_in[-int(block):]
    generator = None
    if cfg.seed is not None:
        generator = torch.Generator(device="cpu")
        generator.manual_seed(int(cfg.seed))
    with torch.inference_mode():
        state = model.start(num)
        ids = torch.tensor([ids_in] * num, dtype=torch.long, device=device)
        logits, state = prefill(model, ids, state)
        decoders = [StreamDecoder(tokenizer, cfg.stop) for _ in range(num)]
        ends = cfg.end_ids()
        constraints = cfg.constraints(tokenizer, num)
        alive = [True] * num
        produced = 0
        while True:
            logprobs = _safe_log_softmax(logits)
            if constraints is not None:
                rows = [c if alive[i] else None for i, c in enumerate(constraints)]
                logprobs = constrained_logprobs(logprobs, grammar_masks(rows, logprobs.shape[-1], logprobs.device))
            nxt = choose(logits, cfg, generator, logprobs)
            chosen = logprobs.gather(-1, nxt.unsqueeze(-1)).squeeze(-1)
            # one device-to-host copy per token: the ids and their log-probabilities together
            picked = torch.stack([nxt.double(), chosen.double()], dim=-1).tolist()
            tops = None
            if cfg.top_logprobs:
                vals, idx = torch.topk(logprobs, min(cfg.top_logprobs, logprobs.shape[-1]), dim=-1)
                tops = (vals.tolist(), idx.tolist())
            produced += 1
            chosen_lp = [lp for _, lp in picked]
            for i, tid in enumerate(int(t) for t, _ in picked):
                if not alive[i]:
                    continue
                info = TokenInfo(tid, _token_text(tokenizer, tid), chosen_lp[i])
                if tops is not None:
                    info.top = [(t, _token_text(tokenizer, t), v) for v, t in zip(tops[0][i], tops[1][i])]
                dec = decoders[i]
                if tid in ends:
                    alive[i] = False
                    yield Delta(i, dec.flush(), info, finish_reason="stop")
                    continue
                complete = False
                if constraints is not None:
                    constraints[i].advance(tid)
                    complete = constraints[i].is_finished()  # nothing may follow: the output is whole
                delta = dec.push(tid)
                if not dec.stopped and (complete or produced >= cfg.max_tokens):
                    delta += dec.flush()
                if dec.stopped or complete or produced >= cfg.max_tokens:
                    alive[i] = False
                    yield Delta(i, delta, info, finish_reason="stop" if dec.stopped or complete else "length")
                    continue
                yield Delta(i, delta, info)
            if not any(alive):
                return
            logits, state = model.step(nxt, state)


def _token_text(tokenizer: Tokenizer, token_id: int) -> str:
    return tokenizer.decode_bytes([token_id]).decode("utf-8", errors="replace")


@dataclass
class Completion:
    text: str
    tokens: list[TokenInfo]
    finish_reason: str


def complete(model: LanguageModel, tokenizer: Tokenizer, prompt: str | Sequence[int], cfg: SamplingConfig,
             num: int = 1, device: str | torch.device = "cpu") -> list[Completion]:
    """Non-streaming generation: the same text ``stream`` yields, collected per sample."""
    texts = [[] for _ in range(num)]
    tokens: list[list[TokenInfo]] = [[] for _ in range(num)]
    reasons = ["length"] * num
    for d in stream(model, tokenizer, prompt, cfg, num=num, device=device):
        texts[d.index].append(d.text)
        if d.token is not None:
            tokens[d.index].append(d.token)
        if d.finish_reason:
            reasons[d.index] = d.finish_reason
    return [Completion("".join(t), k, r) for t, k, r in zip(texts, tokens, reasons)]
