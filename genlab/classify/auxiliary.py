"""The pretraining objective kept on while fine-tuning a classifier: an auxiliary language-model loss.

GPT-1 (Radford et al. 2018) fine-tuned with ``L = L_class + λ · L_LM`` on the labelled texts and found
that it generalised better: with a few thousand labels a whole network memorises them within a few
hundred steps, and the language-model term keeps the weights doing what pretraining taught them.
For a BERT the term is its masked-LM loss (BERT's masking of 15 % of the real tokens, which the
classification term then also reads: a token-level noise on the training texts only); for a GPT or
an RNN/LSTM/GRU it is the next-token loss over each text, from the same forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from genlab.errors import GenlabError
from genlab.models.bert import MASK_TOKEN
from genlab.tokenizers import Tokenizer
from genlab.training.mlm_task import IGNORE, mask_tokens, special_ids


@dataclass
class AuxiliaryLM:
    weight: float  # λ
    encoder: bool  # masked-LM (BERT) or next-token (left to right)
    mask_id: int | None
    special: np.ndarray  # ids never masked
    vocab_size: int

    @staticmethod
    def of(weight: float, family: str, tokenizer: Tokenizer) -> AuxiliaryLM:
        encoder = family == "bert"
        mask_id = tokenizer.special_id(MASK_TOKEN) if encoder else None
        if encoder and mask_id is None:
            raise GenlabError(f"--aux-lm needs the tokenizer's {MASK_TOKEN} token: fine-tune a pretrained bert run")
        return AuxiliaryLM(weight, encoder, mask_id, special_ids(tokenizer), tokenizer.vocab_size)

    def targets(self, tokens: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``tokens[B, T]`` (right-padded with id 0) → (the model's inputs, LM targets with ``-100`` where none)."""
        if self.encoder:
            return mask_tokens(tokens, rng, self.mask_id, self.special, self.vocab_size)
        following = np.full_like(tokens, IGNORE)
        following[:, :-1] = np.where(tokens[:, 1:] == 0, IGNORE, tokens[:, 1:])  # padding predicts nothing
        return tokens, following

    def loss(self, backbone: nn.Module, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        chosen = targets != IGNORE
        picked = hidden[chosen]
        logits = backbone.mlm_logits(picked) if self.encoder else backbone.lm_head(picked)
        return F.cross_entropy(logits.float(), targets[chosen])
