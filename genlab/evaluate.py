"""Course step 5: evaluation (모델 평가) — perplexity for any language model, BLEU/chrF for text.

Perplexity is exp(mean cross-entropy) of the model on a held-out token stream, computed through the
shared protocol alone. Because tokenizers differ (a char model predicts many easy tokens, a BPE model
few hard ones), we also report bits per character and bits per UTF-8 byte: the summed cost divided
by the size of the text, which is comparable across tokenizers.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from genlab.errors import GenlabError
from genlab.models.protocol import LanguageModel, target_logprobs
from genlab.tokenizers import EOS_ID

LN2 = math.log(2)


@dataclass
class PerplexityReport:
    tokens: int
    nll_nats: float  # summed
    characters: int | None = None
    bytes: int | None = None
    infinite: int = 0  # tokens the model gave probability 0 (an unsmoothed n-gram)
    seconds: float = 0.0

    @property
    def mean_nll(self) -> float:
        return self.nll_nats / max(self.tokens, 1)

    @property
    def perplexity(self) -> float:
        return math.exp(self.mean_nll) if math.isfinite(self.mean_nll) and self.mean_nll < 700 else math.inf

    @property
    def bits_per_token(self) -> float:
        return self.mean_nll / LN2

    @property
    def bits_per_char(self) -> float | None:
        return self.nll_nats / LN2 / self.characters if self.characters else None

    @property
    def bits_per_byte(self) -> float | None:
        return self.nll_nats / LN2 / self.bytes if self.bytes else None

    def as_dict(self) -> dict:
        d = asdict(self)
        d.update(mean_nll=self.mean_nll, perplexity=self.perplexity, bits_per_token=self.bits_per_token,
                 bits_per_char=self.bits_per_char, bits_per_byte=self.bits_per_byte)
        return d

    def lines(self, label: str = "") -> list[str]:
        head = f"{label}: " if label else ""
        out = [
            f"{head}tokens {self.tokens:,}",
            f"{head}cross-entropy {self.mean_nll:.4f} nats/token ({self.bits_per_token:.4f} bits/token)",
            f"{head}perplexity {self.perplexity:.4f}",
        ]
        if self.bits_per_char is not None:
            out.append(f"{head}bits per character {self.bits_per_char:.4f}")
        if self.bits_per_byte is not None:
            out.append(f"{head}bits per UTF-8 byte {self.bits_per_byte:.4f}")
        if self.infinite:
            out.append(f"{head}zero-probability tokens {self.infinite:,} (perplexity is infinite; use smoothing)")
        return out


def perplexity(model: LanguageModel, data: np.ndarray, window: int = 256, batch_size: int = 16,
               max_tokens: int | None = None, device: str | torch.device = "cpu", progress: bool = False,
               characters: int | None = None, nbytes: int | None = None,
               stride: int | None = None) -> PerplexityReport:
    """Score every token of ``data`` (a split: documents each followed by ``<eos>``).

    The stream is read as ``<eos>`` + data, so the first document is predicted from a document start.
    Windows of ``window`` inputs overlap by the model's ``context_size`` when it has one, so an n-gram
    model sees exactly its full context at every position (the result equals one pass over the whole
    stream); models with a hard input limit (``block_size``, a GPT's positions) are scored on
    consecutive non-overlapping windows of that length, as nanoGPT does; models with unbounded
    context (RNNs) on consecutive windows, each from a fresh state.

    ``stride`` (models with a hard input limit only) slides that window by ``stride`` tokens instead and
    scores only each window's last ``stride`` positions, so every scored token sees at least
    ``block - stride`` tokens before it (the sliding-window perplexity of fixed-length models): lower
    and closer to the model's true quality, at ``block / stride`` times the cost.
    """
    from tqdm.auto import tqdm

    started = time.perf_counter()
    stream = np.concatenate([np.array([EOS_ID], dtype=np.int64), np.asarray(data, dtype=np.int64)])
    if max_tokens is not None:
        stream = stream[: max_tokens + 1]
    context = getattr(model, "context_size", None)
    block = getattr(model, "block_size", None)  # a hard limit on input length (a GPT's positions)
    if stride is not None and not block:
        raise GenlabError("--stride applies to models with a fixed context (a GPT's positions); this model "
                          "is scored with its own context already")
    if block:
        window = int(block)
        if stride is not None and not 1 <= stride <= window:
            raise GenlabError(f"--stride must be between 1 and the model's block size {window}")
        overlap = 0 if stride is None else window - int(stride)
    elif context is not None:
        # Each window re-reads the previous ``context`` tokens, so every scored position sees its
        # full context and the result equals scoring the whole stream at once.
        overlap = int(context)
        window = max(window, 2 * overlap)  # so at most half of each window is re-read
    else:
        overlap = 0  # unbounded context (an RNN): each window starts from a fresh state
    stride = window - overlap
    n_targets = len(stream) - 1
    if n_targets <= 0:
        raise GenlabError("nothing to evaluate: the token stream is empty")
    starts = list(range(0, max(n_targets - overlap, 1), stride))
    total, infinite, counted = 0.0, 0, 0
    bar = tqdm(total=n_targets, desc="evaluate", unit="tok", unit_scale=True, disable=not progress,
               dynamic_ncols=True, mininterval=0.5)
    with torch.inference_mode():
        for b in range(0, len(starts), batch_size):
            group = starts[b:b + batch_size]
            lengths = [min(window, n_targets - s) for s in group]
            width = max(lengths)
            x = np.full((len(group), width), EOS_ID, dtype=np.int64)
            y = np.full((len(group), width), EOS_ID, dtype=np.int64)
            keep = np.zeros((len(group), width), dtype=bool)
            for r, (s, n) in enumerate(zip(group, lengths)):
                x[r, :n] = stream[s:s + n]
                y[r, :n] = stream[s + 1:s + n + 1]
                first = 0 if s == 0 else overlap
                keep[r, first:n] = True
            lp = target_logprobs(model, torch.from_numpy(x).to(device), torch.from_numpy(y).to(device))
            lp = lp.double().cpu().numpy()[keep]
            if np.isnan(lp).any():
                raise GenlabError("the model produced NaN scores; it is broken (retrain it, e.g. with a lower "
                                  "learning rate)")
            finite = np.isfinite(lp)
            infinite += int((~finite).sum())
            total -= float(lp[finite].sum())
            counted += int(keep.sum())
            bar.update(int(keep.sum()))
    bar.close()
    nll = math.inf if infinite else total
    return PerplexityReport(tokens=counted, nll_nats=nll, characters=characters, bytes=nbytes,
                            infinite=infinite, seconds=time.perf_counter() - started)


@dataclass
class MaskedLMReport:
    masked: int  # positions scored
    correct: int  # of which the top-1 guess was the original token
    nll_nats: float  # summed

    @property
    def accuracy(self) -> float:
        return self.correct / max(self.masked, 1)

    @property
    def perplexity(self) -> float:
        mean = self.nll_nats / max(self.masked, 1)
        return math.exp(mean) if mean < 700 else math.inf

    def as_dict(self) -> dict:
        return {**asdict(self), "masked_accuracy": self.accuracy, "mlm_perplexity": self.perplexity}

    def lines(self, label: str = "") -> list[str]:
        head = f"{label}: " if label else ""
        return [f"{head}masked tokens {self.masked:,}",
                f"{head}masked-token accuracy {self.accuracy:.4f}",
                f"{head}MLM cross-entropy {self.nll_nats / max(self.masked, 1):.4f} nats/token",
                f"{head}MLM perplexity {self.perplexity:.4f}"]


def masked_lm(model, tokenizer, data: np.ndarray, max_tokens: int | None = None, seed: int = 0,
              batch_size: int = 32, device: str | torch.device = "cpu", progress: bool = False) -> MaskedLMReport:
    """A BERT run on a split: consecutive windows, BERT's masking drawn from ``seed`` (so every call
    scores the same positions), cross-entropy and top-1 accuracy at the masked positions."""
    from tqdm.auto import tqdm

    from genlab.models.bert import MASK_TOKEN
    from genlab.training.mlm_task import IGNORE, mask_tokens, special_ids

    stream = np.asarray(data[:max_tokens] if max_tokens else data, dtype=np.int64)
    block = int(model.block_size)
    n = len(stream) // block
    if n == 0:
        raise GenlabError(f"the split has {len(stream)} tokens, fewer than the model's {block} positions")
    windows = stream[:n * block].reshape(n, block)
    rng = np.random.default_rng([seed, 5])
    special, mask_id = special_ids(tokenizer), tokenizer.special_id(MASK_TOKEN)
    report = MaskedLMReport(0, 0, 0.0)
    with torch.inference_mode():
        for start in tqdm(range(0, n, batch_size), desc="evaluate (MLM)", unit="batch", disable=not progress):
            x, y = mask_tokens(windows[start:start + batch_size], rng, mask_id, special, model.vocab_size)
            x, y = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
            chosen = y != IGNORE
            logits = model.mlm_logits(model.hidden(x)[chosen]).float()
            report.nll_nats += float(torch.nn.functional.cross_entropy(logits, y[chosen], reduction="sum"))
            report.correct += int((logits.argmax(-1) == y[chosen]).sum())
            report.masked += int(chosen.sum())
    return report
