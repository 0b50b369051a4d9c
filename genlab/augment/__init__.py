"""Data augmentation, the course's first remedy for data shortage: more training examples made from
the ones there are, without changing what they mean (text: :mod:`genlab.augment.text`; images:
:mod:`genlab.augment.image`). Every augmentation is off by default and deterministic for a seed."""
