"""Growing a trained language model's vocabulary, for transfer learning onto data with new tokens.

Fine-tuning adds tokens a base run never had: the chat template's special tokens, and characters or
words of the new data. The token embedding and the output head get one row per new id; every old
token keeps its row *exactly* (found by its string, so its id may even move), so for any input made
of old tokens the old tokens' logits are unchanged. A new row starts at the mean of the old rows
(the usual choice: an average token, rather than noise the model has never seen), and so does a new
output bias.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from genlab.errors import GenlabError

#: the parameters whose first dimension is the vocabulary, by model family
VOCAB_ROWS: dict[str, tuple[str, ...]] = {
    "gpt": ("transformer.wte.weight", "lm_head.weight"),
    "bert": ("transformer.wte.weight", "lm_head.weight", "lm_head.bias"),
    "rnn": ("wte.weight", "lm_head.weight", "lm_head.bias"),
    "lstm": ("wte.weight", "lm_head.weight", "lm_head.bias"),
    "gru": ("wte.weight", "lm_head.weight", "lm_head.bias"),
}


def row_sources(old_tokens: Sequence[str], new_tokens: Sequence[str]) -> list[int | None]:
    """For each new id, the old id holding the same token (``None``: a token the old vocabulary lacks)."""
    where = {token: i for i, token in enumerate(old_tokens)}
    if len(where) != len(old_tokens):
        raise GenlabError("the base tokenizer has two ids with the same token; it cannot be grown safely")
    missing = set(old_tokens) - set(new_tokens)
    if missing:
        raise GenlabError(f"the new tokenizer drops {len(missing)} token(s) of the base run (e.g. "
                          f"{sorted(missing)[0]!r}); a grown vocabulary must keep every old token")
    return [where.get(token) for token in new_tokens]


def grow_rows(tensor: torch.Tensor, sources: Sequence[int | None]) -> torch.Tensor:
    """Rows of ``tensor`` re-ordered by ``sources``; a ``None`` row is the mean of the old rows."""
    mean = tensor.float().mean(dim=0).to(tensor.dtype)
    rows = [tensor[i] if i is not None else mean for i in sources]
    return torch.stack(rows).contiguous()


def grow_state(state: dict[str, torch.Tensor], family: str, sources: Sequence[int | None]) -> dict[str, torch.Tensor]:
    """A state dict whose vocabulary-shaped tensors are grown to ``len(sources)`` rows."""
    if family not in VOCAB_ROWS:
        raise GenlabError(f"a {family} model's vocabulary cannot be grown; fine-tune a gpt, rnn, lstm or gru run")
    out = dict(state)
    for name in VOCAB_ROWS[family]:
        if name in out:
            out[name] = grow_rows(out[name], sources)
    return out


def grown_model(model: nn.Module, model_config: dict[str, Any], old_tokens: Sequence[str],
                new_tokens: Sequence[str], build: Any) -> tuple[nn.Module, dict[str, Any]]:
    """A new model of ``build(config)`` with the vocabulary of ``new_tokens`` and ``model``'s weights.

    Returns the model and its config (``vocab_size`` updated). When nothing changes the model is
    returned as it is.
    """
    if list(old_tokens) == list(new_tokens):
        return model, dict(model_config)
    sources = row_sources(old_tokens, new_tokens)
    config = {**model_config, "vocab_size": len(new_tokens)}
    grown = build(config)
    state = grow_state(model.state_dict(), str(model_config.get("family")), sources)
    # a tied head shares the embedding's tensor: load_state_dict fills both from either name
    missing, unexpected = grown.load_state_dict(state, strict=False)
    tied = {name for name in missing if name in VOCAB_ROWS.get(str(model_config.get("family")), ())}
    if set(missing) - tied or unexpected:
        raise GenlabError(f"could not grow the model's vocabulary (missing {sorted(set(missing) - tied)[:3]}, "
                          f"unexpected {sorted(unexpected)[:3]})")
    return grown, config
