"""Parallel data: reading, validation with line numbers, split by source, tokenizers, the pairs store."""

from __future__ import annotations

import json

import numpy as np
import pytest

from genlab.cli import main
from genlab.errors import GenlabError
from genlab.pairs import PairsConfig, PairStore, prepare_pairs, read_pairs
from genlab.tokenizers import EOS_ID


def _tsv(tmp_path, text: str | bytes, name: str = "pairs.tsv"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def _prepare(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(["prepare", *argv, "--quiet"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_malformed_line_fails_with_exit_2_naming_the_line(tmp_path, capsys):
    path = _tsv(tmp_path, "hello\t안녕\nno tab on this line\nbye\t잘 가\n")
    code, out, err = _prepare(["--pairs", str(path), "--out", str(tmp_path / "run")], capsys)
    assert code == 2
    assert "line 2" in err and "tab" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run" / "meta.json").exists()


@pytest.mark.parametrize("text, line, why", [
    ("a\tb\nc\td\te\n", "line 2", "3 tab-separated fields"),
    ("a\tb\nc\tz\n\t\n\tonly target\n", "line 4", "source is empty"),
    ("a\tb\nc\t \n", "line 2", "target is empty"),
])
def test_each_kind_of_bad_line_is_named(tmp_path, text, line, why):
    with pytest.raises(GenlabError) as info:
        read_pairs(str(_tsv(tmp_path, text)))
    assert line in str(info.value) and why in str(info.value)


def test_skip_bad_lines_keeps_the_good_ones_and_reports(tmp_path, capsys):
    good = "".join(f"s{i}\tt{i}\n" for i in range(40))
    path = _tsv(tmp_path, good + "broken\n" + "x\ty\n")
    code, out, _ = _prepare(["--pairs", str(path), "--out", str(tmp_path / "run"), "--skip-bad-lines"], capsys)
    assert code == 0
    assert "skipped 1 bad lines" in out and "line 41" in out
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert sum(s["pairs"] for s in meta["splits"].values()) == 41


def test_invalid_utf8_binary_and_empty_files_are_refused(tmp_path):
    with pytest.raises(GenlabError, match="UTF-8"):
        read_pairs(str(_tsv(tmp_path, b"ok\tfine\n\xff\xfe\tbad\n")))
    with pytest.raises(GenlabError, match="binary"):
        read_pairs(str(_tsv(tmp_path, b"a\x00b\tc\n", "bin.tsv")))
    with pytest.raises(GenlabError, match="no usable pairs"):
        read_pairs(str(_tsv(tmp_path, "\n\n", "empty.tsv")))
    with pytest.raises(GenlabError, match="not found"):
        read_pairs(str(tmp_path / "missing.tsv"))


def test_folder_of_src_tgt_files(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a.src").write_text("one\ntwo\n\nthree\n", encoding="utf-8")
    (folder / "a.tgt").write_text("하나\n둘\n\n셋\n", encoding="utf-8")
    (folder / "b.src").write_text("four\n", encoding="utf-8")
    (folder / "b.tgt").write_text("넷\n", encoding="utf-8")
    assert read_pairs(str(folder)).pairs == [("one", "하나"), ("two", "둘"), ("three", "셋"), ("four", "넷")]
    (folder / "b.tgt").write_text("넷\n다섯\n", encoding="utf-8")
    with pytest.raises(GenlabError, match="not line-aligned"):
        read_pairs(str(folder))
    (folder / "b.tgt").write_text("\n", encoding="utf-8")
    with pytest.raises(GenlabError, match="line 1"):
        read_pairs(str(folder))
    (folder / "b.tgt").unlink()
    with pytest.raises(GenlabError, match="b.tgt"):
        read_pairs(str(folder))


def test_split_is_by_source_deterministic_and_keeps_all_references_together(tmp_path):
    lines = []
    for i in range(60):
        for k in range(1 + i % 3):  # some sources have several translations
            lines.append(f"sentence {i}\tbeon-yeok {i}-{k}")
    path = _tsv(tmp_path, "\n".join(lines) + "\n")
    cfg = PairsConfig(pairs=str(path), out=str(tmp_path / "a"), split=(0.6, 0.2, 0.2), seed=7)
    meta = prepare_pairs(cfg, progress=False)
    prepare_pairs(PairsConfig(**{**cfg.__dict__, "out": str(tmp_path / "b")}), progress=False)
    a, b = PairStore(tmp_path / "a"), PairStore(tmp_path / "b")
    seen: dict[str, str] = {}
    for split in ("train", "val", "test"):
        assert a.texts(split) == b.texts(split)  # same seed, same split
        for src, _ in a.texts(split):
            assert seen.setdefault(src, split) == split  # a source never straddles splits
    assert meta["splits"]["val"]["sources"] == 12 and meta["splits"]["test"]["sources"] == 12
    sources, refs = a.references("test")
    assert len(sources) == 12 and all(len(r) == 1 + int(s.split()[1]) % 3 for s, r in zip(sources, refs))


def test_store_ids_decode_back_to_the_texts(tmp_path):
    prepare_pairs(PairsConfig(pairs="builtin:dates", out=str(tmp_path), num_examples=300), progress=False)
    store = PairStore(tmp_path)
    src_ids, tgt_ids = store.examples("val")
    texts = store.texts("val")
    assert len(src_ids) == len(texts) == store.meta["splits"]["val"]["pairs"] > 0
    for s, t, (src, tgt) in zip(src_ids, tgt_ids, texts):
        assert s[-1] == EOS_ID and EOS_ID not in t
        assert store.source_tokenizer.decode(s[:-1]) == src and store.target_tokenizer.decode(t) == tgt


def test_separate_vocabularies_and_length_filter(tmp_path):
    lines = [f"{'a' * (1 + i % 9)} b\t{'가' * (1 + i % 5)}" for i in range(200)]
    path = _tsv(tmp_path, "\n".join(lines))
    meta = prepare_pairs(PairsConfig(pairs=str(path), out=str(tmp_path / "run"), shared_vocab=False, max_length=6),
                         progress=False)
    store = PairStore(tmp_path / "run")
    assert (tmp_path / "run" / "source_tokenizer.json").is_file()
    assert meta["source_vocab_size"] == 4 + 3 and meta["target_vocab_size"] == 4 + 1  # {a, b, ' '} and {가}
    assert store.source_tokenizer.fingerprint() != store.target_tokenizer.fingerprint()
    assert sum(s["too_long"] for s in meta["splits"].values()) > 0
    for split in ("train", "val", "test"):
        src, tgt = store.examples(split)
        assert all(len(s) - 1 <= 6 and len(t) <= 6 for s, t in zip(src, tgt))


def test_damaged_store_files_are_clear_errors(tmp_path):
    prepare_pairs(PairsConfig(pairs="builtin:reverse", out=str(tmp_path), num_examples=100), progress=False)
    (tmp_path / "train.pairs.safetensors").write_bytes(b"garbage")
    with pytest.raises(GenlabError, match="corrupted or truncated"):
        PairStore(tmp_path).examples("train")
    (tmp_path / "val.pairs.jsonl").write_text("{not json\n")
    with pytest.raises(GenlabError, match="corrupted"):
        PairStore(tmp_path).texts("val")
    meta = json.loads((tmp_path / "meta.json").read_text())
    meta["format"] = "genlab-token-store"
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(GenlabError, match="no parallel data"):
        PairStore(tmp_path)


def test_cli_builtin_task_summary(tmp_path, capsys):
    code, out, _ = _prepare(["--pairs", "builtin:ko-numbers", "--num-examples", "500", "--out", str(tmp_path)],
                            capsys)
    assert code == 0 and "pairs train 450 / val 25 / test 25" in out
    store = PairStore(tmp_path)
    assert np.all([len(s) > 1 for s in store.examples("train")[0]])
