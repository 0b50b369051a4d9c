"""Text augmentation: deterministic for a seed, labels kept, each EDA operation does what it says."""

from __future__ import annotations

import numpy as np
import pytest

from genlab.augment.text import (
    TextAugment,
    eda,
    from_flags,
    jamo_noise,
    random_deletion,
    random_insertion,
    random_swap,
    synonym_replacement,
)
from genlab.errors import GenlabError

TEXTS = ["이 영화 정말 재밌다 배우 연기 최고", "너무 지루하고 긴 영화 였다", "one two three four five"]


def test_augment_is_deterministic_and_keeps_labels() -> None:
    aug = TextAugment([("eda", 0.2), ("jamo", 0.2)], seed=5, copies=2)
    texts, labels = aug.labelled(TEXTS, [1, 0, 1])
    again, _ = TextAugment([("eda", 0.2), ("jamo", 0.2)], seed=5, copies=2).labelled(TEXTS, [1, 0, 1])
    other, _ = TextAugment([("eda", 0.2), ("jamo", 0.2)], seed=6, copies=2).labelled(TEXTS, [1, 0, 1])
    assert texts == again and texts != other
    assert texts[:3] == TEXTS and len(texts) == 9
    assert labels == [1, 0, 1, 1, 0, 1, 1, 0, 1]
    assert texts[3:6] != TEXTS


def test_eda_operations() -> None:
    words = ["a", "b", "c", "d", "e", "f"]
    rng = np.random.default_rng(0)
    swapped = random_swap(words, 1, rng)
    assert sorted(swapped) == words and swapped != words
    kept = random_deletion(words, 0.99, rng)
    assert 1 <= len(kept) < len(words) and all(w in words for w in kept)
    grown = random_insertion(words, 2, rng)
    assert len(grown) == 8 and set(grown) == set(words)
    replaced = synonym_replacement(["좋은", "영화"], 1, rng, {"좋은": ["훌륭한"]})
    assert replaced == ["훌륭한", "영화"]
    assert eda("", rng) == ""


def test_synonyms_only_from_a_dictionary() -> None:
    outputs = {eda("좋은 영화 좋은 배우", np.random.default_rng(s), 0.5) for s in range(40)}
    assert all(set(o.split()) <= {"좋은", "영화", "배우"} for o in outputs)


def test_jamo_noise_changes_only_hangul_syllables() -> None:
    text = "정말 재밌다 ABC 123"
    noisy = jamo_noise(text, np.random.default_rng(1), p=1.0)
    assert len(noisy) == len(text)
    assert noisy[5:] != text[5:] or noisy[:5] != text[:5]
    assert noisy.endswith(" ABC 123")
    assert all(a == b for a, b in zip(noisy, text) if not ("가" <= b <= "힣"))
    assert all(a != b for a, b in zip(noisy, text) if "가" <= b <= "힣")
    assert jamo_noise(text, np.random.default_rng(1), p=0.0) == text


def test_bad_flags(tmp_path) -> None:
    with pytest.raises(GenlabError, match="config.json"):
        from_flags(["backtranslate:" + str(tmp_path / "nope")], None, None, 0)
    bad = tmp_path / "syn.tsv"
    bad.write_text("좋은\t훌륭한\n없음\n", encoding="utf-8")
    with pytest.raises(GenlabError, match=r"syn.tsv:2"):
        from_flags(["eda"], str(bad), None, 0)
