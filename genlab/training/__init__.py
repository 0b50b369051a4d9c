"""Pieces of the one training loop (``genlab.train``), one job per file.

``config`` (every training value, from defaults, presets and flags), ``schedule`` (warm-up + cosine),
``optim`` (AdamW with weight-decay groups), ``state`` (exact-resume checkpoints), ``metrics``
(``metrics.jsonl`` and ``loss.png``), ``signals`` (Ctrl-C / SIGTERM → save and stop) and
``lm_task`` (language-model training data: windows cut from the token store).
"""
