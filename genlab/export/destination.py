"""Where ``export`` and ``import-hf`` may write: never over a run, a model, or files they did not write.

An HF export writes ``config.json``, ``model.safetensors`` and ``tokenizer.json`` — the very names a genlab
run keeps its model in — so ``export RUN --out RUN`` used to replace the run with its own export. Every
``--out`` is therefore checked before anything is written: it must be new, empty, or a previous export
(an HF folder holding only the files export writes, its ``config.json`` marked with :data:`HF_MARK`; a
GGUF file marked with :data:`GGUF_MARK`). Anything else — the run itself, any genlab run, a downloaded
model, a folder of other files — is refused, and the user is told to pick another place.
"""

from __future__ import annotations

import json
from pathlib import Path

from genlab.errors import GenlabError

#: every file ``export --format hf`` writes; a folder holding only these (and marked) is a previous export
HF_FILES = frozenset({"config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                      "tokenizer_config.json", "special_tokens_map.json"})
#: the ``config.json`` key that marks an HF folder genlab exported (transformers keeps unknown keys)
HF_MARK = "genlab_export"
#: the GGUF metadata key that marks a file genlab exported (llama.cpp ignores keys it does not know)
GGUF_MARK = "genlab.export"
#: the first bytes of every GGUF file
GGUF_MAGIC = b"GGUF"


def is_genlab_run(folder: Path) -> bool:
    """A run directory: it has a training state, or a ``config.json`` naming a model family."""
    if (folder / "train_state.pt").exists():
        return True
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    model = config.get("model") if isinstance(config, dict) else None
    return isinstance(model, dict) and "family" in model


def hf_folder(run: str | Path, out: str | Path) -> Path:
    """The folder an HF export may write into (created here), or a one-line refusal."""
    out = Path(out)
    _not_the_run(run, out)
    if out.exists() and not out.is_dir():
        raise GenlabError(f"--out {out} is a file; give a folder (it is created if missing)")
    if out.is_dir():
        if is_genlab_run(out):
            raise GenlabError(f"--out {out} is a genlab run: the export would overwrite its config.json, weights "
                              "and tokenizer; give a new folder")
        present = sorted(p.name for p in out.iterdir())
        if present and not _previous_hf_export(out, present):
            shown = ", ".join(present[:3]) + (", …" if len(present) > 3 else "")
            raise GenlabError(f"--out {out} is not empty and is not a folder genlab export wrote (it holds "
                              f"{shown}); give a new or empty folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GenlabError(f"cannot create --out {out}: {exc.strerror or exc}") from None
    return out


def gguf_file(run: str | Path, out: str | Path) -> Path:
    """The file a GGUF export may write (new, or a GGUF genlab wrote before), or a one-line refusal."""
    out = Path(out)
    _not_the_run(run, out)
    if out.is_dir():
        raise GenlabError(f"--out {out} is a folder; give a file name such as {out / 'model.gguf'}")
    if (out.exists() or out.is_symlink()) and not _previous_gguf_export(out):
        raise GenlabError(f"--out {out} already exists and is not a GGUF file genlab exported; "
                          "give a new file name (or delete that file first)")
    return out


def new_run_folder(source: Path, out: Path) -> Path:
    """The folder ``import-hf`` may make a run in: new or empty, and not the folder being imported."""
    if out.resolve() == source.resolve():
        raise GenlabError(f"--out {out} is the folder being imported; give a new folder for the run")
    if out.exists() and not out.is_dir():
        raise GenlabError(f"--out {out} is a file; give a folder for the run")
    if out.is_dir() and is_genlab_run(out):
        raise GenlabError(f"--out {out} already holds a genlab run; choose a new folder")
    if out.is_dir() and any(out.iterdir()):
        raise GenlabError(f"--out {out} is not empty (the run's config.json, weights and tokenizer would "
                          "overwrite what is there); give a new or empty folder")
    return out


def _not_the_run(run: str | Path, out: Path) -> None:
    if out.resolve() == Path(run).resolve():
        raise GenlabError(f"--out {out} is the run being exported; writing there would destroy it, "
                          "give a new path")


def _previous_hf_export(out: Path, present: list[str]) -> bool:
    if not set(present) <= HF_FILES or "config.json" not in present:
        return False
    try:
        config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(config, dict) and HF_MARK in config


def _previous_gguf_export(out: Path) -> bool:
    try:
        with open(out, "rb") as fh:
            if fh.read(len(GGUF_MAGIC)) != GGUF_MAGIC:
                return False
        import gguf

        return GGUF_MARK in gguf.GGUFReader(str(out)).fields
    except Exception:  # unreadable or damaged: not something export may overwrite
        return False
