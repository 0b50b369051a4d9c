"""Course step 2b: the token store (genlab.tokens) — prepare, read back, cut windows."""

from __future__ import annotations

import errno
import json
import random
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from genlab import corpus as corpus_mod
from genlab import tokens as tokens_mod
from genlab.corpus import SPLITS, Corpus, assign_splits
from genlab.errors import GenlabError
from genlab.tokenizers import EOS_ID, UNK_ID
from genlab.tokens import PrepareConfig, TokenStore, dtype_for, prepare, random_windows, sequential_windows, write_ids

WORDS_EN = ["the", "model", "reads", "text", "and", "predicts", "the", "next", "token", "from", "its", "context"]
WORDS_KO = ["생성형", "인공지능", "언어", "모델", "다음", "단어", "예측", "문장", "학습", "데이터", "토큰"]


def make_corpus(folder: Path, n_lines: int = 240, files: int = 3, seed: int = 0) -> Path:
    """Unique mixed English/Korean lines (some with emoji and odd spacing) spread over a few files."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n_lines):
        words = [rng.choice(WORDS_EN if rng.random() < 0.5 else WORDS_KO) for _ in range(rng.randint(1, 9))]
        line = f"{i}: " + " ".join(words) + rng.choice(["", ".", " 😀", "  !", ", <eos> x"])
        lines.append(line)
    per_file = -(-n_lines // files)
    for f in range(files):
        chunk = lines[f * per_file:(f + 1) * per_file]
        (folder / f"part{f}.txt").write_text("\n".join(chunk) + "\n\n", encoding="utf-8")
    return folder


def config(corpus: Path, out: Path, kind: str, **kw) -> PrepareConfig:
    opts = {"unit": "line", "split": (0.8, 0.1, 0.1), "seed": 11, **({"vocab_size": 320} if kind == "bpe" else {})}
    opts.update(kw)
    return PrepareConfig(corpus=str(corpus), out=str(out), tokenizer=kind, **opts)


def expected_streams(cfg: PrepareConfig, store: TokenStore) -> dict[str, list[int]]:
    """Each split as it should be: its documents in corpus order, each encoded alone + <eos>."""
    docs = list(Corpus(cfg.corpus, unit=cfg.unit).documents())
    labels = assign_splits(len(docs), cfg.split, cfg.seed, shuffle=cfg.shuffle)
    out: dict[str, list[int]] = {s: [] for s in SPLITS}
    for doc, label in zip(docs, labels):
        out[SPLITS[label]].extend(store.tokenizer.encode(doc) + [EOS_ID])
    return out


@pytest.mark.parametrize("kind", ["char", "word", "jamo", "bpe"])
def test_prepare_matches_direct_encoding(tmp_path, kind):
    cfg = config(make_corpus(tmp_path / "corpus"), tmp_path / "run", kind)
    meta = prepare(cfg, progress=False)
    store = TokenStore(cfg.out)
    expected = expected_streams(cfg, store)
    docs = list(Corpus(cfg.corpus, unit="line").documents())
    assert meta["corpus"]["documents"] == len(docs) == 240
    for name in SPLITS:
        split = store.split(name)
        assert split.dtype == np.uint16
        assert split.tolist() == expected[name]
        assert meta["splits"][name]["tokens"] == len(expected[name])
    total_docs = sum(meta["splits"][s]["documents"] for s in SPLITS)
    assert total_docs == len(docs)
    assert meta["splits"]["val"]["documents"] == meta["splits"]["test"]["documents"] == 24
    assert sum(meta["splits"][s]["characters"] for s in SPLITS) == sum(map(len, docs))
    assert sum(meta["splits"][s]["bytes"] for s in SPLITS) == sum(len(d.encode()) for d in docs)
    assert meta["tokenizer_fingerprint"] == store.tokenizer.fingerprint()
    assert meta["vocab_size"] == store.vocab_size == store.tokenizer.vocab_size


def test_splits_are_disjoint_by_document(tmp_path):
    cfg = config(make_corpus(tmp_path / "corpus"), tmp_path / "run", "char")
    prepare(cfg, progress=False)
    store = TokenStore(cfg.out)
    by_split = {}
    for name in SPLITS:
        ids = store.split(name).tolist()
        assert ids[-1] == EOS_ID
        text = store.tokenizer.decode(ids)  # <eos> decodes to nothing (a literal "<eos>" in a line is text)
        docs, cur = [], []
        for i in ids:
            if i == EOS_ID:
                docs.append(store.tokenizer.decode(cur))
                cur = []
            else:
                cur.append(i)
        by_split[name] = docs
        assert "".join(docs) == text
    sets = {k: set(v) for k, v in by_split.items()}
    assert not (sets["train"] & sets["val"]) and not (sets["train"] & sets["test"]) and not (sets["val"] & sets["test"])
    assert sorted(sum(by_split.values(), [])) == sorted(Corpus(cfg.corpus, unit="line").documents())


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_same_seed_gives_byte_identical_stores(tmp_path, kind):
    corpus = make_corpus(tmp_path / "corpus")
    a = prepare(config(corpus, tmp_path / "a", kind), progress=False)
    b = prepare(config(corpus, tmp_path / "b", kind), progress=False)
    for name in [f"{s}.bin" for s in SPLITS] + ["tokenizer.json"]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert a["split_sha256"] == b["split_sha256"]
    c = prepare(config(corpus, tmp_path / "c", kind, seed=12), progress=False)
    assert c["split_sha256"]["val"] != a["split_sha256"]["val"]


def test_store_does_not_depend_on_read_chunk_size(tmp_path, monkeypatch):
    corpus = make_corpus(tmp_path / "corpus")
    big = prepare(config(corpus, tmp_path / "big", "jamo"), progress=False)
    monkeypatch.setattr(corpus_mod, "CHUNK_BYTES", 37)
    small = prepare(config(corpus, tmp_path / "small", "jamo"), progress=False)
    assert small["split_sha256"] == big["split_sha256"]
    assert small["splits"] == big["splits"]


def test_memory_does_not_grow_with_corpus_size(tmp_path, monkeypatch):
    """Streaming: the peak of Python/NumPy allocations stays put when the corpus grows fourfold.

    The chunk sizes are made small so that a test-sized corpus spans many chunks.
    """
    import genlab.tokenizers.char as char_mod

    monkeypatch.setattr(corpus_mod, "CHUNK_BYTES", 1 << 14)
    monkeypatch.setattr(char_mod, "COUNT_BATCH_CHARS", 1 << 14)
    line = "생성형 인공지능 언어 모델은 다음 토큰을 예측한다 and English words too 0123456789\n"
    peaks = []
    for size, name in ((1500, "small"), (6000, "large")):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "c.txt").write_text(line * size, encoding="utf-8")
        tracemalloc.start()
        prepare(PrepareConfig(corpus=str(folder), out=str(tmp_path / f"run-{name}"), unit="line"), progress=False)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    growth = len(line.encode()) * (6000 - 1500)
    assert peaks[1] - peaks[0] < growth / 20, (peaks, growth)  # fixed tables and one chunk, not the corpus


def test_unknown_characters_in_val_are_counted(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "a.txt").write_text("aaaa\nbbbb\nzzzz\n", encoding="utf-8")
    meta = prepare(PrepareConfig(corpus=str(folder), out=str(tmp_path / "run"), unit="line", shuffle=False,
                                 split=(0.34, 0.33, 0.33)), progress=False)
    assert meta["splits"]["val"]["unk"] == 4 and meta["splits"]["test"]["unk"] == 4  # 'b' and 'z' unseen
    store = TokenStore(tmp_path / "run")
    assert store.split("test").tolist() == [UNK_ID] * 4 + [EOS_ID]


def test_tokenizer_sample_is_spread_over_the_whole_corpus(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "1.txt").write_text("alpha beta\n" * 3000, encoding="utf-8")
    (folder / "2.txt").write_text("gamma delta\n" * 3000, encoding="utf-8")
    meta = prepare(PrepareConfig(corpus=str(folder), out=str(tmp_path / "run"), unit="line", tokenizer="word",
                                 tokenizer_sample_mb=0.01), progress=False)
    tok = TokenStore(tmp_path / "run").tokenizer
    assert {"alpha", " beta", "gamma", " delta"} <= set(tok.words)  # both files were sampled
    assert meta["config"]["tokenizer_sample_mb"] == 0.01


def test_training_sample_has_the_requested_size_and_spans_the_corpus(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    for name in ("1", "2", "3"):
        lines = "".join(f"file {name} line {i:04d}\n" for i in range(1000))
        (folder / f"{name}.txt").write_text(lines, encoding="utf-8")
    corpus = Corpus(str(folder), unit="line")
    labels = assign_splits(3000, (0.9, 0.05, 0.05), seed=1)
    train_chars = sum(len(d) for d, lab in zip(corpus.documents(), labels) if lab == 0)
    sample = list(tokens_mod._training_texts(corpus, labels, train_chars // 10, train_chars))
    assert abs(sum(map(len, sample)) - train_chars / 10) < 40  # within two documents of the budget
    assert {d.split()[1] for d in sample} == {"1", "2", "3"}
    assert sample == list(tokens_mod._training_texts(corpus, labels, train_chars // 10, train_chars))
    everything = list(tokens_mod._training_texts(corpus, labels, None, train_chars))
    assert len(everything) == int((labels == 0).sum())
    joined = list(tokens_mod._training_texts(corpus, labels, None, train_chars, joined=True))
    assert "".join(joined) == "".join(everything)


@pytest.mark.parametrize("change", [1, -1])
def test_corpus_changing_during_prepare_is_detected(tmp_path, change):
    folder = make_corpus(tmp_path / "corpus")
    corpus = Corpus(str(folder), unit="line")
    labels = assign_splits(240 + change, (0.8, 0.1, 0.1), seed=0)
    with pytest.raises(GenlabError, match="changed while it was being prepared"):
        list(tokens_mod._labelled_batches(corpus, labels))


def test_bad_configurations(tmp_path):
    corpus = make_corpus(tmp_path / "corpus", n_lines=10)
    with pytest.raises(GenlabError, match="--lowercase only applies"):
        prepare(config(corpus, tmp_path / "r", "char", lowercase=True), progress=False)
    with pytest.raises(GenlabError, match="unknown tokenizer"):
        prepare(config(corpus, tmp_path / "r", "sentencepiece"), progress=False)
    (tmp_path / "two.txt").write_text("one line\nand another\n", encoding="utf-8")
    with pytest.raises(GenlabError, match="too small to split"):  # one file of two lines = one document
        prepare(PrepareConfig(corpus=str(tmp_path / "two.txt"), out=str(tmp_path / "r"), unit="file"), progress=False)
    assert not (tmp_path / "r").exists()  # nothing written before the corpus is known to be usable


def test_interrupted_prepare_keeps_the_previous_store(tmp_path, monkeypatch):
    corpus = make_corpus(tmp_path / "corpus")
    cfg = config(corpus, tmp_path / "run", "char")
    prepare(cfg, progress=False)
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tokens_mod, "_by_split", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare(config(corpus, tmp_path / "run", "word"), progress=False)
    after = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()}
    assert after == before  # no partial files, nothing replaced
    TokenStore(tmp_path / "run").split("train")


def test_disk_full_is_a_clear_error_and_leaves_no_partial_files(tmp_path, monkeypatch):
    corpus = make_corpus(tmp_path / "corpus")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tokens_mod, "_by_split", full)
    with pytest.raises(GenlabError, match="No space left on device"):
        prepare(config(corpus, tmp_path / "run", "char"), progress=False)
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.endswith(".partial")]


# ----------------------------------------------------------------------------- reading a store

@pytest.fixture
def store(tmp_path) -> TokenStore:
    cfg = config(make_corpus(tmp_path / "corpus"), tmp_path / "run", "char")
    prepare(cfg, progress=False)
    return TokenStore(cfg.out)


def test_split_is_a_read_only_memory_map(store):
    train = store.split("train")
    assert isinstance(train, np.memmap)
    with pytest.raises(ValueError):
        train[0] = 1
    with pytest.raises(GenlabError, match="unknown split"):
        store.split("dev")


def test_truncated_split_and_foreign_tokenizer_are_detected(store):
    path = store.run / "val.bin"
    path.write_bytes(path.read_bytes()[:-2])
    with pytest.raises(GenlabError, match="truncated"):
        store.split("val")
    meta = json.loads((store.run / "meta.json").read_text())
    meta["tokenizer_fingerprint"] = "0" * 16
    (store.run / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(GenlabError, match="does not match"):
        _ = TokenStore(store.run).tokenizer
    (store.run / "meta.json").write_text("{not json")
    with pytest.raises(GenlabError, match="corrupted"):
        TokenStore(store.run)


def test_dtype_for():
    assert dtype_for(65536) == np.uint16
    assert dtype_for(65537) == np.uint32


def test_write_ids_round_trip(tmp_path):
    write_ids(tmp_path / "x.bin", np.array([1, 70000, 3]), vocab_size=70001)
    assert np.fromfile(tmp_path / "x.bin", dtype=np.uint32).tolist() == [1, 70000, 3]


def test_random_windows():
    data = np.arange(100, dtype=np.uint16)
    x, y = random_windows(data, 8, 5, np.random.default_rng(0))
    assert x.shape == y.shape == (5, 8) and str(x.dtype) == "torch.int64"
    assert (y[:, :-1] == x[:, 1:]).all() and (y[:, -1] == x[:, -1] + 1).all()
    x2, _ = random_windows(data, 8, 5, np.random.default_rng(0))
    assert (x == x2).all()
    assert random_windows(np.arange(9), 8, 3, np.random.default_rng(0))[0].shape == (3, 8)
    with pytest.raises(GenlabError, match="fewer than the context"):
        random_windows(np.arange(8), 8, 1, np.random.default_rng(0))


def test_sequential_windows_cover_the_split_once():
    data = np.arange(23)
    windows = list(sequential_windows(data, 5))
    assert [s for s, _ in windows] == [0, 5, 10, 15, 20]
    targets = np.concatenate([w[1:] for _, w in windows])
    assert targets.tolist() == list(range(1, 23))
    assert len(list(sequential_windows(data, 5, max_windows=2))) == 2


def test_window_reader_reads_a_whole_file_map_with_positioned_reads_and_slices_by_indexing(tmp_path):
    from genlab.tokens import WindowReader

    path = tmp_path / "split.bin"
    np.arange(5000, dtype=np.uint16).tofile(path)
    whole = np.memmap(path, dtype=np.uint16, mode="r")
    starts = np.array([0, 17, 4990])
    expected = (starts[:, None] + np.arange(10)).astype(np.int64)
    reader = WindowReader(whole)
    assert reader._fd is not None  # positioned reads: memory stays flat on large stores
    assert np.array_equal(reader.read(starts, 10), expected)
    part = whole[1000:]  # a slice keeps its parent's file name and offset: it must not be read by offset
    sliced = WindowReader(part)
    assert sliced._fd is None
    assert np.array_equal(sliced.read(np.array([0, 5]), 3), [[1000, 1001, 1002], [1005, 1006, 1007]])
    g1, g2 = np.random.default_rng(3), np.random.default_rng(3)
    x1, y1 = random_windows(whole, 16, 4, g1)
    x2, y2 = random_windows(np.asarray(whole), 16, 4, g2)
    assert np.array_equal(x1.numpy(), x2.numpy()) and np.array_equal(y1.numpy(), y2.numpy())


def test_a_run_holding_a_trained_model_is_never_prepared_over(tmp_path):
    """A new (or grown) tokenizer in a trained run's folder orphans its weights for good."""
    corpus = make_corpus(tmp_path / "corpus")
    run = tmp_path / "run"
    prepare(config(corpus, run, "char"), progress=False)
    (run / "model.safetensors").write_bytes(b"weights")  # what training leaves
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    with pytest.raises(GenlabError, match="holds a trained model; preparing it again would replace the tokenizer"):
        prepare(config(corpus, run, "word"), progress=False)
    other = tmp_path / "other.txt"
    other.write_text("ЖЩЮ " * 50 + "\n", encoding="utf-8")  # symbols the run's tokenizer lacks
    grow = PrepareConfig(corpus=str(other), out=str(run), tokenizer_from=str(run), split=(1.0, 0.0, 0.0))
    with pytest.raises(GenlabError, match=r"growing it in place would break the model"):
        prepare(grow, progress=False)
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    prepare(PrepareConfig(corpus=str(other), out=str(tmp_path / "new"), tokenizer_from=str(run),
                          split=(1.0, 0.0, 0.0)), progress=False)  # into a new folder: fine


@pytest.mark.parametrize("kind", ["char", "word"])
def test_a_min_frequency_that_drops_every_symbol_is_refused(tmp_path, kind):
    """Once a vocabulary of only the fixed tokens: every token <unk>, and training went on without a word."""
    corpus = make_corpus(tmp_path / "corpus")
    with pytest.raises(GenlabError, match="drops every symbol"):
        prepare(config(corpus, tmp_path / "run", kind, min_frequency=10**6), progress=False)
