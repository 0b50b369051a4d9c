"""genlab: build generative models end to end, the way the K-MOOC course teaches it.

Course steps map to modules: 1 ``corpus`` → 2 ``tokenizers`` + ``tokens`` → 3 ``models`` →
4 ``train`` → 5 ``evaluate``; then ``generate`` and ``serve``. Image generators live in ``image``.
"""

__version__ = "0.1.0"
