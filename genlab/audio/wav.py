"""WAV files in and out with the standard library's ``wave`` module: 16-bit PCM, mono, one clip per file.

Reading validates what the models assume (sample rate, one channel, 16-bit samples, a length that fits
the clip) and turns every problem into a one-line error naming the file and the fix; writing goes
through ``genlab.checkpoint`` (write, then rename), like every file genlab writes.
"""

from __future__ import annotations

import io
import struct
import wave
from pathlib import Path

import numpy as np

from genlab.checkpoint import write_bytes
from genlab.errors import GenlabError


def encode(samples: np.ndarray, sample_rate: int) -> bytes:
    """Float samples in [-1, 1] (or int16) → the bytes of a 16-bit mono WAV file."""
    pcm = to_int16(samples)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes(pcm.astype("<i2").tobytes())
    return buf.getvalue()


def to_int16(samples: np.ndarray) -> np.ndarray:
    samples = np.asarray(samples)
    if samples.dtype == np.int16:
        return samples.reshape(-1)
    return np.clip(np.round(samples.reshape(-1).astype(np.float64) * 32767), -32768, 32767).astype(np.int16)


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int) -> None:
    write_bytes(path, encode(samples, sample_rate))


def decode(data: bytes, name: str) -> tuple[np.ndarray, int, int]:
    """WAV bytes → (int16 samples of the first channel interleaving kept, sample rate, channels)."""
    if not data:
        raise GenlabError(f"{name} is empty (0 bytes); remove it or replace it with a WAV file")
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            channels, width, rate, frames = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            raw = w.readframes(frames)
    except (EOFError, RuntimeError, struct.error) as exc:
        # the header starts well but runs out, or a chunk's size points outside it (``wave`` raises a bare
        # RuntimeError when skipping such a chunk): a file cut short or damaged, not another format
        raise GenlabError(f"{name} is truncated or corrupt (its WAV header breaks off or its chunk sizes are "
                          "wrong); remove it or re-export it as 16-bit PCM WAV") from exc
    except (wave.Error, ValueError) as exc:
        raise GenlabError(f"{name} is not a readable WAV file ({exc}); remove it or re-export it as 16-bit "
                          "PCM WAV") from exc
    if width != 2:
        raise GenlabError(f"{name} has {8 * width}-bit samples; convert it to 16-bit PCM "
                          f"(e.g. `sox {name} -b 16 out.wav`)")
    if len(raw) < frames * channels * 2:
        raise GenlabError(f"{name} is truncated ({len(raw)} of {frames * channels * 2} bytes of audio); "
                          "re-export it")
    return np.frombuffer(raw, dtype="<i2").astype(np.int16), rate, channels


def read_clip(path: Path, sample_rate: int, length: int) -> np.ndarray:
    """One mono clip at ``sample_rate`` Hz, zero-padded to ``length`` samples (int16), or a one-line error."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise GenlabError(f"cannot read {path}: {exc.strerror or exc}") from exc
    pcm, rate, channels = decode(data, str(path))
    if channels != 1:
        raise GenlabError(f"{path} has {channels} channels; the models take mono clips "
                          f"(convert with `sox {path} -c 1 out.wav`)")
    if rate != sample_rate:
        raise GenlabError(f"{path} is sampled at {rate} Hz, not {sample_rate} Hz; resample it "
                          f"(`sox {path} -r {sample_rate} out.wav`)")
    if len(pcm) == 0:
        raise GenlabError(f"{path} holds no audio (0 samples); remove it")
    if len(pcm) > length:
        raise GenlabError(f"{path} is {len(pcm) / rate:.2f} s long; clips must be at most {length / rate:.2f} s "
                          f"(trim it: `sox {path} out.wav trim 0 {length / rate:g}`)")
    out = np.zeros(length, dtype=np.int16)
    out[:len(pcm)] = pcm
    return out
