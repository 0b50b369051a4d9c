"""``builtin:spoken-digits``: the ten digits spoken in English ("zero"…"nine") and Korean ("영"…"구").

The SC09 set WaveGAN was shown on is a download; this one is made on the machine, offline, by the
espeak-ng synthesiser (``genlab.audio.espeak``): each of the 20 words is spoken ``clips_per_word``
times, every take with its own voice and variant (male, female, Klatt), pitch and speed, drawn from
the seed. Each take is resampled to 8 kHz, trimmed of silence, given a random level and start time
inside its 1 s clip, and a little Gaussian noise (about −50 to −40 dB below full scale), so no two
clips are identical and a model must learn the word, not one recording.

The result is cached as one safetensors file in the data directory (``--data-dir``, else
``$GENLAB_DATA_DIR``, else ``$XDG_CACHE_HOME/genlab`` or ``~/.cache/genlab``; never inside the
repository), named by everything that shapes it (seed, clips per word, espeak-ng version), so a second
build with the same settings reads the file back and a different one cannot be confused with it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from genlab.audio.data import BUILTIN, CLIP_LENGTH, SAMPLE_RATE, AudioData, from_clips
from genlab.errors import GenlabError

WORDS = {"en": ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"],
         "ko": ["영", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구"]}
CLASSES = [f"{lang}:{word}" for lang, words in WORDS.items() for word in words]
VOICES = {"en": ["en-us", "en-gb", "en-gb-scotland", "en-029", "en-gb-x-rp"], "ko": ["ko"]}
VARIANTS = ["", "+m1", "+m3", "+m5", "+m7", "+f1", "+f2", "+f3", "+f4", "+klatt", "+klatt3"]
PITCH = (25, 75)  # espeak-ng pitch 0–99
SPEED = (120, 200)  # words per minute
START = 0.15  # a take starts within the first 0.15 s of its clip
NOISE_DB = (-50.0, -40.0)  # noise level relative to full scale
PEAK = (0.4, 0.9)
CLIPS_PER_WORD = 80
RECIPE = 1  # bump when the recipe changes: old caches are then ignored


def default_data_dir() -> Path:
    if os.environ.get("GENLAB_DATA_DIR"):
        return Path(os.environ["GENLAB_DATA_DIR"])
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "genlab"


def takes(clips_per_word: int, seed: int) -> list[dict]:
    """The recipe of every clip (word, voice, pitch, speed, start, level, noise), drawn from ``seed``."""
    rng = np.random.default_rng([seed, RECIPE])
    out = []
    for label, name in enumerate(CLASSES):
        lang, word = name.split(":")
        for _ in range(clips_per_word):
            out.append({"label": label, "word": word,
                        "voice": VOICES[lang][rng.integers(len(VOICES[lang]))] + VARIANTS[rng.integers(len(VARIANTS))],
                        "pitch": int(rng.integers(PITCH[0], PITCH[1] + 1)),
                        "speed": int(rng.integers(SPEED[0], SPEED[1] + 1)),
                        "start": float(rng.uniform(0, START)), "peak": float(rng.uniform(*PEAK)),
                        "noise_db": float(rng.uniform(*NOISE_DB)), "noise_seed": int(rng.integers(2**31))})
    return out


def render(take: dict) -> np.ndarray:
    """One take → a 1 s int16 clip at 8 kHz."""
    from genlab.audio import espeak

    try:
        from scipy.signal import resample_poly
    except ImportError as exc:
        raise GenlabError(f"{BUILTIN} needs scipy to resample speech: pip install 'genlab[audio]'") from exc

    pcm, rate = espeak.speak(take["word"], take["voice"], take["pitch"], take["speed"])
    x = pcm.astype(np.float64) / 32768.0
    g = np.gcd(SAMPLE_RATE, rate)
    x = resample_poly(x, SAMPLE_RATE // g, rate // g)
    loud = np.flatnonzero(np.abs(x) > 0.02 * max(np.abs(x).max(), 1e-9))
    x = x[loud[0]:loud[-1] + 1] if len(loud) else x[:0]
    start = int(take["start"] * SAMPLE_RATE)
    x = x[:CLIP_LENGTH - start]
    fade = min(80, len(x))  # 10 ms fade-out in case the word was cut at the clip's end
    if fade:
        x[-fade:] *= np.linspace(1, 0, fade)
    clip = np.zeros(CLIP_LENGTH)
    clip[start:start + len(x)] = x * (take["peak"] / max(np.abs(x).max(), 1e-9)) if len(x) else 0
    noise = np.random.default_rng(take["noise_seed"]).normal(0, 10 ** (take["noise_db"] / 20), CLIP_LENGTH)
    return np.clip(np.round((clip + noise) * 32767), -32768, 32767).astype(np.int16)


def cache_path(data_dir: Path, clips_per_word: int, seed: int) -> Path:
    from genlab.audio import espeak

    key = json.dumps({"recipe": RECIPE, "seed": seed, "clips_per_word": clips_per_word, "espeak": espeak.version(),
                      "voices": VOICES, "variants": VARIANTS, "words": WORDS}, sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return Path(data_dir) / f"spoken-digits-seed{seed}-n{clips_per_word}-{digest}.safetensors"


def build(clips_per_word: int = CLIPS_PER_WORD, seed: int = 0, quiet: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(int16 clips ``[N, T]``, labels ``[N]``): synthesise every take (with a progress bar)."""
    from tqdm.auto import tqdm

    recipe = takes(clips_per_word, seed)
    clips = np.stack([render(t) for t in tqdm(recipe, desc="synthesising spoken digits (espeak-ng)", unit="clip",
                                               disable=quiet)])
    return clips, np.array([t["label"] for t in recipe], dtype=np.int64)


def load(data_dir: str | Path | None = None, clips_per_word: int = CLIPS_PER_WORD, seed: int = 0,
         quiet: bool = False) -> AudioData:
    """The cached set for these settings, built (and cached) on first use."""
    from genlab.checkpoint import load_numpy, save_numpy

    if clips_per_word < 1:
        raise GenlabError(f"clips per word must be at least 1, got {clips_per_word}")
    directory = Path(data_dir) if data_dir is not None else default_data_dir()
    if directory.exists() and not directory.is_dir():
        raise GenlabError(f"data directory {directory} is a file; pass a folder with --data-dir")
    path = cache_path(directory, clips_per_word, seed)
    if path.is_file():
        try:
            arrays = load_numpy(path)
            clips, labels = arrays["clips"], arrays["labels"]
        except (GenlabError, KeyError):
            path.unlink(missing_ok=True)  # a damaged cache is rebuilt, not trusted
            return load(directory, clips_per_word, seed, quiet)
    else:
        clips, labels = build(clips_per_word, seed, quiet)
        save_numpy(path, {"clips": clips, "labels": labels})
    return from_clips(BUILTIN, clips, labels, list(CLASSES))
