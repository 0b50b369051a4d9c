"""Named sizes for the neural language models: ``--preset NAME`` → a model config and training defaults.

A preset is a starting point, not a cage: every field can still be set by its own flag
(``--n-layer``, ``--lr``, …), and the values actually used are saved in the run's ``config.json``.
The ``*-tiny`` presets train in minutes on two CPU cores; ``*-small`` want a GPU or patience.
``gpt-tiny`` is nanoGPT's "baby Shakespeare" laptop model (4 layers, 4 heads, 128 dims, context
64) with the training recipe measured best for it on two CPU cores (``benchmarks/shakespeare_char.py``,
docs/speed.md): batch 16, lr 2e-3 after 50 warm-up steps, cosine to 2e-4 over 1500 steps — val loss
1.85 in 90 s where nanoGPT's own recipe (batch 12, lr 1e-3, 2000 steps) reaches 1.89 in 85 s.
``gpt-tiny-fast`` is the same size with the speedrun levers that measured faster here (rotary positions,
QK-norm, ReLU², an untied head, Muon, batch 32, lr 3e-3 over 220 steps): nanoGPT's final loss in 0.31× its
wall time, side by side (docs/speed.md); it is not GPT-2's layout, so it does not export.
``lr_decay_steps`` is the length the preset is planned for; ``--max-steps`` alone only says when to stop.
"""

from __future__ import annotations

from typing import Any

from genlab.errors import GenlabError


def _train(batch_size: int, lr: float, steps: int, warmup: int, eval_batches: int, **extra: Any) -> dict[str, Any]:
    """Training defaults: cosine from ``lr`` to ``lr / 10`` planned over ``steps`` steps."""
    return {"batch_size": batch_size, "lr": lr, "min_lr": lr / 10, "warmup_steps": warmup, "max_steps": steps,
            "lr_decay_steps": steps, "eval_interval": 250, "eval_batches": eval_batches, **extra}


PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "gpt-tiny": {
        "model": {"family": "gpt", "n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 64, "dropout": 0.0},
        "train": _train(16, 2e-3, 1500, 50, 20),
    },
    # the speedrun recipe at nanoGPT's size: rotary positions, QK-norm, ReLU², an untied head, Muon for the
    # hidden matrices — the same loss in a fraction of gpt-tiny's steps (docs/speed.md); not GPT-2's layout
    "gpt-tiny-fast": {
        "model": {"family": "gpt", "n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 64, "dropout": 0.0,
                  "positions": "rope", "qk_norm": True, "activation": "relu2", "tie_weights": False},
        # 4 micro-batches of 8: the same gradient, a third less peak memory, no slower on a CPU (measured)
        "train": _train(32, 3e-3, 220, 20, 10, optimizer="muon", grad_accum=4),
    },
    "gpt-small": {
        "model": {"family": "gpt", "n_layer": 6, "n_head": 6, "n_embd": 384, "block_size": 256, "dropout": 0.2},
        "train": _train(64, 1e-3, 5000, 100, 50),
    },
    # gpt-tiny-fast's levers at nanoGPT's GPU size: nanoGPT's 2000-step val loss in 800 steps on an H200
    # (docs/speed.md); it overfits tinyshakespeare from ~step 650 with dropout 0.1, so 0.2 and a short plan
    "gpt-small-fast": {
        "model": {"family": "gpt", "n_layer": 6, "n_head": 6, "n_embd": 384, "block_size": 256, "dropout": 0.2,
                  "positions": "rope", "qk_norm": True, "activation": "relu2", "tie_weights": False},
        "train": _train(64, 2e-3, 800, 50, 20, optimizer="muon"),
    },
    # BERT learns from 15 % of the positions per window, so it wants larger batches than GPT for the same signal
    "bert-tiny": {
        "model": {"family": "bert", "n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 64, "dropout": 0.1},
        "train": _train(32, 2e-3, 2000, 50, 20),
    },
    # gpt-tiny-fast's levers on the encoder (rotary positions, QK-norm, ReLU², Muon, no dropout): on NSMC
    # reviews masked-token accuracy 0.53 after 150 s on 2 CPU threads, where bert-tiny with rotary positions
    # had 0.25 (README, "Little data")
    "bert-tiny-fast": {
        "model": {"family": "bert", "n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 128, "dropout": 0.0,
                  "positions": "rope", "qk_norm": True, "activation": "relu2"},
        "train": _train(32, 3e-3, 2000, 50, 20, optimizer="muon"),
    },
    "bert-small": {
        "model": {"family": "bert", "n_layer": 6, "n_head": 6, "n_embd": 384, "block_size": 128, "dropout": 0.1},
        "train": _train(64, 1e-3, 5000, 100, 50),
    },
    "rnn-tiny": {
        "model": {"family": "rnn", "n_layer": 2, "n_embd": 128, "block_size": 64, "dropout": 0.0},
        "train": _train(32, 2e-3, 2000, 50, 20, clip=1.0),
    },
    "rnn-small": {
        "model": {"family": "rnn", "n_layer": 2, "n_embd": 512, "block_size": 128, "dropout": 0.1},
        "train": _train(32, 1e-3, 5000, 100, 50, clip=1.0),
    },
    "lstm-tiny": {
        "model": {"family": "lstm", "n_layer": 2, "n_embd": 128, "block_size": 64, "dropout": 0.0},
        "train": _train(32, 3e-3, 2000, 50, 20, clip=1.0),
    },
    "lstm-small": {
        "model": {"family": "lstm", "n_layer": 2, "n_embd": 384, "block_size": 128, "dropout": 0.2},
        "train": _train(32, 2e-3, 5000, 100, 50, clip=1.0),
    },
    "gru-tiny": {
        "model": {"family": "gru", "n_layer": 2, "n_embd": 128, "block_size": 64, "dropout": 0.0},
        "train": _train(32, 3e-3, 2000, 50, 20, clip=1.0),
    },
    "gru-small": {
        "model": {"family": "gru", "n_layer": 2, "n_embd": 448, "block_size": 128, "dropout": 0.2},
        "train": _train(32, 2e-3, 5000, 100, 50, clip=1.0),
    },
}

#: the preset used when ``--preset`` is not given: sizes that train on a laptop CPU
DEFAULT_PRESET: dict[str, str] = {"gpt": "gpt-tiny", "bert": "bert-tiny", "rnn": "rnn-tiny", "lstm": "lstm-tiny",
                                  "gru": "gru-tiny"}


def preset_for(family: str, name: str | None) -> tuple[str | None, dict[str, dict[str, Any]]]:
    """The preset to use for ``family`` (``name``, or the family's default) and its two sections."""
    if name is None:
        name = DEFAULT_PRESET.get(family)
        if name is None:
            return None, {"model": {}, "train": {}}
    if name not in PRESETS:
        known = ", ".join(n for n, p in PRESETS.items() if p["model"]["family"] == family) or "none"
        raise GenlabError(f"unknown preset {name!r} for --model {family}; known: {known}")
    preset = PRESETS[name]
    if preset["model"]["family"] != family:
        raise GenlabError(f"preset {name!r} is a {preset['model']['family']} model, not {family}; "
                          f"use --model {preset['model']['family']} or another preset")
    return name, {"model": dict(preset["model"]), "train": dict(preset["train"])}
