"""Default decoding lengths and length penalty for encoder–decoder search.

Kept apart from :mod:`genlab.beam` (which needs torch) so that the command line can show them in
``--help`` without importing torch on every ``genlab`` invocation.
"""

DEFAULT_LENGTH_PENALTY = 0.6  # GNMT alpha: 0 ranks finished beams by raw log-probability
DEFAULT_MAX_LENGTH_RATIO = 2.0  # output tokens allowed per source token ...
DEFAULT_MAX_LENGTH_EXTRA = 10  # ... plus this many
#: widest beam: every step scores beam × vocabulary candidates per sentence, so a beam of 100,000 ran for
#: minutes on a 30-symbol vocabulary; translation quality stops improving long before this (beams of 4-10)
MAX_BEAM = 256
