"""The one place genlab calls espeak-ng, the offline speech synthesiser behind ``builtin:spoken-digits``.

espeak-ng is a Debian package (``apt-get install espeak-ng``; ``make test`` installs it when it can), not
a Python one, so it is run as a program: ``espeak-ng -v VOICE -p PITCH -s SPEED -w FILE WORD`` writes a
16-bit mono WAV at 22,050 Hz (to a file: on a pipe the header cannot say how long the audio is).
A missing program is a one-line error naming the package.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from genlab.errors import GenlabError

PACKAGE = "espeak-ng"
MISSING = (f"{PACKAGE} is not installed: builtin:spoken-digits synthesises its clips offline with it; "
           f"install the Debian package {PACKAGE} (`sudo apt-get install {PACKAGE}`, or `make test` as root)")


def program() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        raise GenlabError(MISSING)
    return path


@functools.cache
def version() -> str:
    """espeak-ng's version line: part of the cache key, since another version speaks differently."""
    out = subprocess.run([program(), "--version"], capture_output=True, text=True, timeout=30)
    return out.stdout.strip().split(" Data at:")[0]


def speak(text: str, voice: str, pitch: int, speed: int) -> tuple[np.ndarray, int]:
    """(int16 samples, sample rate) of ``text`` spoken by ``voice`` (e.g. ``en-us+f2``) at a pitch 0–99 and
    a speed in words per minute."""
    from genlab.audio.wav import decode

    with tempfile.TemporaryDirectory(prefix="genlab-espeak-") as tmp:
        wav = Path(tmp) / "word.wav"
        cmd = [program(), "-v", voice, "-p", str(int(pitch)), "-s", str(int(speed)), "-w", str(wav), text]
        _run(cmd, voice)
        data = wav.read_bytes()
    samples, rate, _ = decode(data, f"espeak-ng output for {text!r}")
    return samples, rate


def _run(cmd: list[str], voice: str) -> None:
    try:
        subprocess.run(cmd, capture_output=True, timeout=60, check=True)
    except subprocess.CalledProcessError as exc:
        message = exc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GenlabError(f"espeak-ng failed for voice {voice!r} ({message[0] if message else exc})") from exc
    except subprocess.TimeoutExpired as exc:
        raise GenlabError(f"espeak-ng did not answer within 60 s (voice {voice!r})") from exc
