from __future__ import annotations

import wave

import numpy as np
import pytest

from genlab.audio.data import CLIP_LENGTH, load_data, load_folder
from genlab.audio.wav import encode, read_clip, write_wav
from genlab.errors import GenlabError


def _write(path, samples, rate=8000, channels=1, width=2):
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(np.asarray(samples).astype(f"<i{width}").tobytes())


def _oversized_fmt(data: bytes) -> bytes:
    """A WAV whose fmt chunk claims to run past the file's end: ``wave`` fails skipping it with a bare RuntimeError."""
    return data[:16] + (100_000).to_bytes(4, "little") + data[20:]


def test_written_wav_reopens_with_the_standard_library(tmp_path):
    x = np.sin(np.linspace(0, 100, 4000)) * 0.5
    write_wav(tmp_path / "a.wav", x, 8000)
    with wave.open(str(tmp_path / "a.wav")) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (1, 2, 8000, 4000)
        pcm = np.frombuffer(w.readframes(4000), dtype="<i2")
    assert np.abs(pcm / 32767 - x).max() < 1e-4
    clip = read_clip(tmp_path / "a.wav", 8000, CLIP_LENGTH)
    assert clip.shape == (CLIP_LENGTH,) and clip.dtype == np.int16
    assert np.array_equal(clip[:4000], pcm) and not clip[4000:].any()  # padded with silence


def test_out_of_range_floats_are_clipped_not_wrapped():
    pcm = np.frombuffer(encode(np.array([2.0, -2.0, 0.0]), 8000)[44:], dtype="<i2")
    assert pcm.tolist() == [32767, -32768, 0]


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: p.write_bytes(b""), "empty"),
    (lambda p: p.write_bytes(b"this is not audio at all"), "not a readable WAV"),
    (lambda p: _write(p, np.zeros(100), rate=16000), "16000 Hz"),
    (lambda p: _write(p, np.zeros(200), channels=2), "2 channels"),
    (lambda p: _write(p, np.zeros(100), width=1), "8-bit"),
    (lambda p: _write(p, np.zeros(9000)), "at most 1.00 s"),
    (lambda p: _write(p, np.zeros(0)), "no audio"),
    (lambda p: p.write_bytes(encode(np.zeros(4000), 8000)[:1000]), "truncated"),
    (lambda p: p.write_bytes(encode(np.zeros(4000), 8000)[:30]), "is truncated or corrupt"),
    (lambda p: p.write_bytes(_oversized_fmt(encode(np.zeros(4000), 8000))), "is truncated or corrupt"),
])
def test_bad_wav_files_are_one_line_errors_naming_the_file(tmp_path, make, message):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(GenlabError, match=message) as info:
        read_clip(path, 8000, CLIP_LENGTH)
    assert "bad.wav" in str(info.value) and "\n" not in str(info.value)


def test_folder_subfolders_name_the_words_and_other_files_are_counted(tmp_path):
    rng = np.random.default_rng(0)
    for word in ("yes", "no"):
        for i in range(6):
            _write(tmp_path / word / f"{i}.wav", rng.integers(-1000, 1000, 3000))
    (tmp_path / "yes" / "notes.txt").write_text("hi")
    data = load_folder(tmp_path)
    assert data.classes == ["no", "yes"] and data.shape == (1, CLIP_LENGTH) and data.skipped == 1
    assert sum(data.count(s) for s in ("train", "val", "test")) == 12
    x = data.tensor("train")
    assert x.min() >= -1 and x.max() < 1


@pytest.mark.parametrize(("spec", "message"), [("/no/such/folder", "not found"), ("builtin:nope", "unknown built-in")])
def test_bad_data_specs(spec, message):
    with pytest.raises(GenlabError, match=message):
        load_data(spec)


def test_folder_without_wavs(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(GenlabError, match="no .wav files"):
        load_folder(tmp_path)


def test_a_single_clip_is_counted_as_a_clip(tmp_path):
    _write(tmp_path / "a.wav", np.zeros(100))
    with pytest.raises(GenlabError, match="only 1 clips: need at least 10 to keep train, validation and test clips"):
        load_folder(tmp_path)
