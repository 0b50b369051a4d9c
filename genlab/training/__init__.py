"""Course step 4 (모델 훈련): the one training loop for every neural model, one job per file.

``loop`` (init → forward → loss → backward → clip → step, evaluation, checkpoints), ``train_cli``
(``genlab train``: flags → task + configs → the loop), ``task`` (the *task* protocol: what a batch and a
loss are), ``lm_task`` (language models: windows cut from the token store), ``seq2seq_task``
(encoder–decoders: sentence pairs), ``config`` (every training value, from defaults, presets and
flags), ``schedule`` (warm-up + cosine), ``optim`` (AdamW with weight-decay groups), ``state``
(exact-resume checkpoints), ``metrics`` (``metrics.jsonl`` and ``loss.png``), ``signals`` (Ctrl-C /
SIGTERM → save and stop), ``distributed`` (DDP under torchrun).
"""
