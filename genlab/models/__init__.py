"""Course step 3: the models (언어모델 선택) — Markov chain, RNN/LSTM/GRU, GPT, encoder–decoder."""

from genlab.models.protocol import LanguageModel
from genlab.models.registry import FAMILIES, load_model

__all__ = ["LanguageModel", "FAMILIES", "load_model"]
