"""Run directories and crash-safe files.

A run directory is the unit users pass around (``runs/NAME/``): ``config.json``, ``tokenizer.json``,
``model.safetensors``, ``train_state.pt``, ``metrics.jsonl``. Every write here goes to a temporary
file in the same folder, is flushed to disk, then renamed over the target, so a crash or a full disk
never leaves a half-written file where a good one was.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from genlab.errors import GenlabError


def atomic_write(path: str | Path, write: Callable[[Path], None], flag: str = "--out") -> None:
    """Call ``write(tmp_path)``, fsync it, then rename it onto ``path``.

    If anything fails (including ``OSError: No space left on device``) the temporary file is
    removed and the previous ``path`` stays intact; the error is raised as a ``GenlabError``
    whose advice names ``flag``, the option that chose ``path``.
    """
    path = Path(path)
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)  # a folder that cannot hold it fails here: the same error
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise GenlabError(_write_error(path, exc, flag)) from exc
    except BaseException:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise


def _write_error(path: Path, exc: OSError, flag: str) -> str:
    """What went wrong and what to do: a file where a folder must be, a full disk, or anything else."""
    blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:  # mkdir says only "File exists" or "Not a directory"
        return f"could not write {path}: {blocker} is a file, not a folder; choose another {flag}"
    advice = ("free some disk space" if exc.errno in (errno.ENOSPC, errno.EDQUOT)
              else "check that the folder exists or can be made and that you may write there")
    return (f"could not write {path}: {exc.strerror or exc}; the previous file (if any) is intact — "
            f"{advice}, or choose another {flag}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: str | Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def read_json(path: str | Path) -> Any:
    """Read a JSON file, turning a missing or damaged file into a clear one-line error."""
    path = Path(path)
    if not path.is_file():
        raise GenlabError(f"{path} not found: is this a genlab run directory? (run `genlab prepare` first)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GenlabError(f"{path} is corrupted ({exc}); re-create it or restore a copy") from exc


#: the parts of a run's config.json that, where present, must be JSON objects
CONFIG_SECTIONS = ("model", "train", "runtime")


def read_config(run: str | Path) -> dict[str, Any]:
    """A run's ``config.json``: valid JSON *and* the shape genlab writes (an object whose sections are
    objects), so that a hand-edited or foreign file is one clear error, not a crash further on."""
    path = Path(run) / "config.json"
    config = read_json(path)
    bad = not isinstance(config, dict) or any(not isinstance(config.get(k, {}), dict) for k in CONFIG_SECTIONS)
    if not bad and "model" in config and not isinstance(config["model"].get("family", ""), str):
        bad = True
    if bad:
        raise GenlabError(f"{path} is corrupted (not a genlab run's config: expected an object with "
                          f"{', '.join(CONFIG_SECTIONS)} objects); re-create it or restore a copy")
    return config


@contextlib.contextmanager
def config_errors(run: str | Path) -> Iterator[None]:
    """Turn what a damaged ``config.json`` makes a model's constructor raise (a missing key, a string
    where a number belongs) into one clear error naming the file."""
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise GenlabError(f"{Path(run) / 'config.json'} does not describe a model genlab can build "
                          f"({type(exc).__name__}: {exc}); re-create it or restore a copy") from exc


def save_tensors(path: str | Path, tensors: dict, metadata: dict[str, str] | None = None) -> None:
    """Save a dict of torch tensors as safetensors (no pickle), atomically."""
    from safetensors.torch import save_file

    clean = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    atomic_write(path, lambda tmp: save_file(clean, str(tmp), metadata=metadata))


def load_tensors(path: str | Path, device: str = "cpu") -> dict:
    """Load safetensors weights; a truncated or foreign file gives a clear error, never a crash."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise GenlabError(f"{path} not found: train the model first (`genlab train`)")
    try:
        return load_file(str(path), device=device)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise GenlabError(f"{path} is corrupted or truncated ({exc}); retrain or restore it") from exc


def save_numpy(path: str | Path, arrays: dict, metadata: dict[str, str] | None = None) -> None:
    """Save NumPy arrays as safetensors (no pickle), atomically."""
    from safetensors.numpy import save_file

    atomic_write(path, lambda tmp: save_file(arrays, str(tmp), metadata=metadata))


def load_numpy(path: str | Path) -> dict:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = Path(path)
    if not path.is_file():
        raise GenlabError(f"{path} not found: train the model first (`genlab train`)")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise GenlabError(f"{path} is corrupted or truncated ({exc}); retrain or restore it") from exc


def torch_save(path: str | Path, obj: Any) -> None:
    """Save plain training state (tensors, numbers, strings) for ``torch.load(weights_only=True)``."""
    import torch

    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def torch_load(path: str | Path) -> Any:
    """Load training state safely: ``weights_only=True`` never unpickles arbitrary objects."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise GenlabError(f"{path} not found: nothing to resume from")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for damaged files
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GenlabError(f"{path} is corrupted or not a genlab training state ({first_line}); "
                          "delete it to start over, or resume from a copy") from exc


def run_dir(path: str | Path, must_exist: bool = True) -> Path:
    path = Path(path)
    if must_exist and path.exists() and not path.is_dir():
        inside = (path.parent / "config.json").is_file() or (path.parent / "tokenizer.json").is_file()
        raise GenlabError(f"{path} is a file, not a run directory: pass "
                          + (f"the run folder that holds it, {path.parent}" if inside else
                             "the folder `genlab prepare --out` or a training command made"))
    if must_exist and not path.is_dir():
        raise GenlabError(f"run directory {path} not found: create it with `genlab prepare --out {path}`")
    return path
