"""Text classification: a pretrained (or fresh) language model, pooled, with a linear head.

The course's second remedy for data shortage, transfer learning, shown on a task with few labels:
``genlab classify train RUN --data LABELS --init-from PRETRAINED_RUN`` fine-tunes any trained gpt,
bert or rnn/lstm/gru run (or ``none``: the same model from random weights) through the one training
loop. Files: ``data.py`` (label files), ``head.py`` (pooling + head, reusable), ``task.py`` (the
loop's task), ``model.py`` (building and loading a classifier run), ``cli.py`` (train/eval/predict).
"""
