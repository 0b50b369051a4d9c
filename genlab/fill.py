"""Filling in ``<mask>``: what a masked language model (BERT) does instead of generating text.

The text is split at each literal ``<mask>``; the pieces are encoded with the run's tokenizer and
joined by the ``<mask>`` id, so one ``<mask>`` stands for one token (a character for a char or jamo
run, a word for a word run, a sub-word for BPE). The model reads the whole input at once —
bidirectionally — and each masked position's scores give the top-k fillers with probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genlab.errors import GenlabError
from genlab.models.bert import MASK_TOKEN
from genlab.tokenizers import Tokenizer


@dataclass
class Filler:
    position: int  # which <mask>, counted from 0
    candidates: list[tuple[str, float]]  # (token text, probability), best first


def encode_with_masks(tokenizer: Tokenizer, text: str) -> tuple[list[int], list[int]]:
    """Token ids of ``text`` with each literal ``<mask>`` as the mask id, and the masks' positions."""
    mask_id = tokenizer.special_id(MASK_TOKEN)
    if mask_id is None:
        raise GenlabError(f"this run's tokenizer has no {MASK_TOKEN} token; is it a BERT run?")
    pieces = text.split(MASK_TOKEN)
    if len(pieces) == 1:
        raise GenlabError(f"the text has no {MASK_TOKEN}; write one where a token should be filled in")
    ids: list[int] = [tokenizer.bos_id]
    where: list[int] = []
    for i, piece in enumerate(pieces):
        ids.extend(tokenizer.encode(piece))
        if i < len(pieces) - 1:
            where.append(len(ids))
            ids.append(mask_id)
    ids.append(tokenizer.eos_id)
    return ids, where


def fill(model: torch.nn.Module, tokenizer: Tokenizer, text: str, top_k: int = 5, device: str = "cpu") -> list[Filler]:
    """The ``top_k`` most probable tokens at every ``<mask>`` of ``text`` (special tokens excluded)."""
    ids, where = encode_with_masks(tokenizer, text)
    if len(ids) > model.block_size:
        raise GenlabError(f"the text is {len(ids)} tokens long; this model reads at most {model.block_size}")
    with torch.inference_mode():
        logits = model(torch.tensor([ids], device=device))[0, where].float().clone()  # (masks, V)
        specials = [0, 1, 2, 3, *[tokenizer.special_id(t) for t in tokenizer.added_specials]]
        logits[:, [i for i in specials if i is not None]] = -torch.inf  # a filler is a real token
        probs = torch.softmax(logits, dim=-1)
    top = probs.topk(min(top_k, probs.shape[-1]), dim=-1)
    return [Filler(n, [(tokenizer.decode([int(i)]), float(p)) for p, i in zip(ps.tolist(), idx.tolist())])
            for n, (ps, idx) in enumerate(zip(top.values, top.indices))]
