"""The shared sampling loop (genlab.generate): streaming text, stop sequences, seeds and the samplers."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from genlab.errors import GenlabError
from genlab.generate import (
    SamplingConfig,
    StreamDecoder,
    _safe_log_softmax,
    choose,
    choose_rows,
    complete,
    filter_logits,
    stream,
)
from genlab.tokenizers import EOS_ID, train

KOREAN = "생성형 인공지능은 새로운 문장을 만듭니다. 한국어 😀"


class BigramTable(nn.Module):
    """An honest protocol model: the next token's scores depend only on the current token."""

    def __init__(self, scores: torch.Tensor, block_size: int | None = None) -> None:
        super().__init__()
        self.scores = scores.float()  # [V, V]: row = current token
        self.vocab_size = scores.shape[0]
        self.context_size = 1
        if block_size is not None:
            self.block_size = block_size
        self.seen_prompts: list[torch.Tensor] = []

    def logits(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.scores[tokens]

    def start(self, batch_size: int) -> None:
        return None

    def step(self, tokens: torch.Tensor, state):
        return self.scores[tokens], tokens

    def prefill(self, tokens: torch.Tensor, state):
        self.seen_prompts.append(tokens.clone())
        return self.scores[tokens[:, -1]], tokens[:, -1]


def chain_model(tok, text: str, vocab_size: int | None = None) -> BigramTable:
    """A model that, greedily, spells out ``text`` (no token twice) after <eos> and then ends with <eos>."""
    ids = tok.encode(text)
    v = vocab_size or tok.vocab_size
    scores = torch.full((v, v), -5.0)
    path = [EOS_ID] + ids + [EOS_ID]
    for a, b in zip(path, path[1:]):
        scores[a, b] = 5.0
    return BigramTable(scores)


# ----------------------------------------------------------------------------- StreamDecoder

def _stream_text(tok, ids, stops=()) -> tuple[list[str], str, StreamDecoder]:
    dec = StreamDecoder(tok, stops)
    deltas = [dec.push(i) for i in ids]
    deltas.append(dec.flush())
    return deltas, "".join(deltas), dec


def test_byte_level_bpe_never_streams_a_broken_korean_character():
    tok = train("bpe", ["plain english text only, nothing else"] * 5, vocab_size=300)
    ids = tok.encode(KOREAN)
    assert len(ids) > len(KOREAN)  # Korean falls back to bytes: characters span several tokens
    deltas, joined, _ = _stream_text(tok, ids)
    assert joined == tok.decode(ids) == KOREAN
    assert all("\ufffd" not in d for d in deltas)
    assert sum(1 for d in deltas if d == "") > 0  # some tokens were held back mid-character


_BYTES_TOK = train("bpe", ["ab cd 가나 😀 efg"] * 3, vocab_size=300, min_frequency=1)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 299), max_size=40))
def test_deltas_always_add_up_to_the_full_decode(ids):
    tok = _BYTES_TOK
    deltas, joined, _ = _stream_text(tok, ids)
    full = tok.decode(ids)
    assert joined == full
    if "\ufffd" not in full:
        assert all("\ufffd" not in d for d in deltas)


def test_jamo_holds_back_the_syllable_until_it_is_final():
    tok = train("jamo", [""])
    ids = tok.encode("각가")  # L V T L V
    dec = StreamDecoder(tok)
    assert [dec.push(i) for i in ids[:3]] == ["", "", ""]  # "가" could still become "각": hold it
    assert dec.push(ids[3]) == "각"  # the next initial consonant settles it
    assert dec.push(ids[4]) == ""
    assert dec.flush() == "가"


def test_stop_sequence_is_never_leaked():
    tok = train("char", ["abcdeENDxyz EN"])
    ids = tok.encode("abENxEND tail")
    dec = StreamDecoder(tok, ["END"])
    assert "".join(dec.push(i) for i in ids[:4]) == "ab"  # "EN" may begin "END": held back
    assert dec.push(ids[4]) == "ENx"  # ...until it cannot
    rest = [dec.push(i) for i in ids[5:]] + [dec.flush()]
    assert rest == [""] * len(rest) and dec.stopped  # "E", "EN", then the stop: nothing more, ever


def test_stop_prefix_is_held_until_it_cannot_be_a_stop():
    tok = train("char", ["abcENDX"])
    dec = StreamDecoder(tok, ["END", "cX"])
    assert "".join(dec.push(i) for i in tok.encode("abcEN")) == "abc"  # "EN" might begin "END"
    assert dec.push(tok.encode("c")[0]) == "EN"  # "c" might begin "cX"
    assert dec.flush() == "c"
    assert not dec.stopped


def test_stop_is_judged_on_final_jamo_text():
    tok = train("jamo", [" "])
    _, joined, dec = _stream_text(tok, tok.encode("각 가 "), stops=["가"])
    assert joined == "각 " and dec.stopped  # "가" inside "각" was never a match


def test_several_stops_cut_at_the_first():
    tok = train("char", ["one two three"])
    _, joined, _ = _stream_text(tok, tok.encode("one two three"), stops=["three", " two"])
    assert joined == "one"


# ----------------------------------------------------------------------------- samplers

def test_filter_logits_top_k_and_top_p():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    kept = lambda out: torch.isfinite(out)[0].tolist()  # noqa: E731
    assert kept(filter_logits(logits, 2, None)) == [True, True, False, False]
    assert kept(filter_logits(logits, 1, None)) == [True, False, False, False]
    assert kept(filter_logits(logits, None, 0.8)) == [True, True, False, False]  # 0.5 + 0.3 reaches 0.8
    assert kept(filter_logits(logits, None, 0.81)) == [True, True, True, False]
    assert kept(filter_logits(logits, None, 0.4)) == [True, False, False, False]
    assert kept(filter_logits(logits, None, 1.0)) == [True] * 4
    assert kept(filter_logits(logits, 3, 0.6)) == [True, True, False, False]
    shuffled = logits[:, [2, 0, 3, 1]]
    assert kept(filter_logits(shuffled, None, 0.8)) == [False, True, False, True]


def test_choose_rows_gives_each_row_what_choose_gives_it_alone():
    """The server's batched sampler: same token and same generator state as the one-row sampler, per row."""
    gen = torch.Generator().manual_seed(0)
    for trial in range(60):
        rows, vocab = int(torch.randint(1, 9, (1,), generator=gen)), int(torch.randint(5, 200, (1,), generator=gen))
        logits = torch.randn(rows, vocab, generator=gen) * float(torch.rand(1, generator=gen) * 8)
        logits[:, :trial % 3] = float("-inf")
        cfgs = [SamplingConfig(temperature=[0.0, 0.5, 1.0, 1.7, 1e-6][(trial + i) % 5],
                               top_k=[None, 1, 3, vocab, vocab + 5][(trial * 3 + i) % 5],
                               top_p=[None, 0.1, 0.9, 1.0][(trial + 2 * i) % 4],
                               seed=None if (trial + i) % 7 == 0 else i) for i in range(rows)]
        logprobs = _safe_log_softmax(logits)
        mine = [None if c.seed is None else torch.Generator().manual_seed(100 * trial + i) for i, c in enumerate(cfgs)]
        alone = [None if c.seed is None else torch.Generator().manual_seed(100 * trial + i) for i, c in enumerate(cfgs)]
        got = choose_rows(logprobs, cfgs, mine)
        for i, cfg in enumerate(cfgs):
            if cfg.seed is None:  # the global generator: only that it is a possible token
                assert torch.isfinite(logprobs[i, got[i]])
                continue
            want = choose(logits[i:i + 1], cfg, alone[i], logprobs[i:i + 1])
            assert int(got[i]) == int(want), (trial, i, cfg)
            assert torch.equal(mine[i].get_state(), alone[i].get_state())


def test_greedy_is_argmax_at_every_step():
    tok = train("char", ["abcdefgh"])
    scores = torch.randn(tok.vocab_size, tok.vocab_size, generator=torch.Generator().manual_seed(0))
    scores[:, EOS_ID] = -1e9
    model = BigramTable(scores)
    out = complete(model, tok, "a", SamplingConfig(max_tokens=12, temperature=0))[0]
    current = tok.encode("a")[-1]
    expected = []
    for _ in range(12):
        current = int(scores[current].argmax())
        expected.append(current)
    assert [t.id for t in out.tokens] == expected
    assert out.finish_reason == "length"
    assert out.text == tok.decode(expected)


def test_seed_makes_sampling_repeatable():
    tok = train("char", ["abcdefgh"])
    model = BigramTable(torch.zeros(tok.vocab_size, tok.vocab_size))
    cfg = SamplingConfig(max_tokens=30, temperature=1.0, seed=5, stop_at_eos=False)
    first = [c.text for c in complete(model, tok, "", cfg, num=3)]
    again = [c.text for c in complete(model, tok, "", cfg, num=3)]
    other = [c.text for c in complete(model, tok, "", SamplingConfig(max_tokens=30, seed=6, stop_at_eos=False),
                                      num=3)]
    assert first == again and first != other
    assert len(set(first)) == 3  # the rows of a batch are different samples


def test_sampling_follows_the_model_probabilities():
    tok = train("char", ["ab"])
    a, b = tok.encode("ab")
    scores = torch.full((tok.vocab_size, tok.vocab_size), -math.inf)
    scores[EOS_ID, a], scores[EOS_ID, b] = math.log(0.8), math.log(0.2)
    model = BigramTable(scores)
    outs = complete(model, tok, "", SamplingConfig(max_tokens=1, seed=0), num=2000)
    share = sum(o.text == "a" for o in outs) / len(outs)
    assert abs(share - 0.8) < 0.04  # ~4.5 standard errors
    lp = outs[0].tokens[0].logprob
    assert lp == pytest.approx(math.log(0.8 if outs[0].text == "a" else 0.2), abs=1e-5)
    top1 = complete(model, tok, "", SamplingConfig(max_tokens=1, top_k=1, seed=0), num=50)
    assert {o.text for o in top1} == {"a"}
    nucleus = complete(model, tok, "", SamplingConfig(max_tokens=1, top_p=0.5, seed=0), num=50)
    assert {o.text for o in nucleus} == {"a"}


def test_eos_stop_and_length_finish_reasons():
    tok = train("char", ["hello world"])
    model = chain_model(tok, "world")
    done = complete(model, tok, "", SamplingConfig(max_tokens=50, temperature=0))[0]
    assert (done.text, done.finish_reason) == ("world", "stop")
    cut = complete(model, tok, "", SamplingConfig(max_tokens=3, temperature=0))[0]
    assert (cut.text, cut.finish_reason) == ("wor", "length")
    stopped = complete(model, tok, "", SamplingConfig(max_tokens=50, temperature=0, stop=["rl"]))[0]
    assert (stopped.text, stopped.finish_reason) == ("wo", "stop")
    assert complete(model, tok, "", SamplingConfig(max_tokens=0))[0].text == ""


def test_streamed_deltas_equal_the_completion():
    tok = train("char", [KOREAN])
    model = chain_model(tok, "생성형 인공지능😀")
    deltas = list(stream(model, tok, "", SamplingConfig(max_tokens=100, temperature=0)))
    assert "".join(d.text for d in deltas) == "생성형 인공지능😀"
    assert deltas[-1].finish_reason == "stop"
    assert all(d.token is not None for d in deltas)


def test_generation_starts_with_eos_and_respects_block_size():
    tok = train("char", ["abcdef"])
    model = BigramTable(torch.zeros(tok.vocab_size, tok.vocab_size), block_size=4)
    complete(model, tok, "ab", SamplingConfig(max_tokens=1))
    assert model.seen_prompts[-1][0].tolist() == [EOS_ID] + tok.encode("ab")
    complete(model, tok, "abcdef", SamplingConfig(max_tokens=1))
    assert model.seen_prompts[-1][0].tolist() == tok.encode("cdef")  # the prompt's end, within the limit


@pytest.mark.parametrize("cfg", [
    SamplingConfig(temperature=-1), SamplingConfig(temperature=float("nan")), SamplingConfig(top_k=0),
    SamplingConfig(top_p=0), SamplingConfig(top_p=1.5), SamplingConfig(max_tokens=-1),
])
def test_bad_sampling_settings_are_clear_errors(cfg):
    tok = train("char", ["ab"])
    with pytest.raises(GenlabError):
        complete(BigramTable(torch.zeros(tok.vocab_size, tok.vocab_size)), tok, "a", cfg)


@pytest.mark.parametrize("temperature,top_p", [(1e-39, None), (1e-39, 0.5), (1e-6, None), (2e-5, 1e-9),
                                               (100.0, 1e-9)])
def test_tiny_temperature_and_top_p_never_give_nan(temperature, top_p):
    """Extreme settings sample like greedy (or keep the best token) instead of crashing multinomial."""
    tok = train("char", ["abcdefgh"])
    scores = torch.randn(tok.vocab_size, tok.vocab_size, generator=torch.Generator().manual_seed(1))
    scores[:, EOS_ID] = float("-inf")  # impossible tokens stay impossible
    scores[2:6] = 0.0  # flat rows: the best token's log-probability is far from 0
    model = BigramTable(scores)
    cfg = SamplingConfig(max_tokens=10, temperature=temperature, top_p=top_p, seed=3, stop_at_eos=False)
    got = complete(model, tok, "a", cfg)[0]
    assert len(got.tokens) == 10
    assert all(math.isfinite(t.logprob) and t.id != EOS_ID for t in got.tokens)
    if temperature < 1e-5:  # below the threshold: exactly greedy
        greedy = complete(model, tok, "a", SamplingConfig(max_tokens=10, temperature=0, stop_at_eos=False))[0]
        assert [t.id for t in got.tokens] == [t.id for t in greedy.tokens]


# ----------------------------------------------------------------------------- constrained decoding

PET_SCHEMA = {"type": "object", "additionalProperties": False, "required": ["name", "age", "ok", "kind"],
              "properties": {"name": {"type": "string", "maxLength": 6}, "age": {"type": "integer"},
                             "ok": {"type": "boolean"}, "kind": {"enum": ["고양이", "dog"]},
                             "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}, "maxItems": 2}}}
PET_TEXT = ['{"name": "cat", "age": 3, "ok": true, "kind": "dog", "tags": ["a"]}', "고양이 false null 0123456789"]


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_every_sampled_answer_with_a_schema_validates(kind: str) -> None:
    """A random-init GPT at temperature 1.5 writes noise, yet every answer that stops is valid JSON."""
    import json

    import jsonschema

    from genlab.models.gpt import GPT, GPTConfig
    from genlab.structured import json_schema_grammar

    options = {"vocab_size": 300, "min_frequency": 1} if kind == "bpe" else {}
    tok = train(kind, PET_TEXT * 3, **options)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, n_layer=1, n_head=2, n_embd=32, block_size=96)).eval()
    cfg = SamplingConfig(max_tokens=90, temperature=1.5, seed=3, grammar=json_schema_grammar(PET_SCHEMA))
    out = complete(model, tok, "", cfg, num=16)
    stopped = [c for c in out if c.finish_reason == "stop"]
    assert len(stopped) >= 8
    for c in stopped:
        jsonschema.validate(json.loads(c.text), PET_SCHEMA)
    for c in out:
        if c.finish_reason == "length":
            assert len(c.tokens) == 90


def test_a_constrained_answer_cut_by_max_tokens_says_length() -> None:
    from genlab.structured import json_schema_grammar

    tok = train("char", PET_TEXT)
    model = BigramTable(torch.zeros(tok.vocab_size, tok.vocab_size))
    cfg = SamplingConfig(max_tokens=5, seed=0, grammar=json_schema_grammar(PET_SCHEMA))
    out = complete(model, tok, "", cfg, num=4)
    assert [(c.text, c.finish_reason) for c in out] == [('{"nam', "length")] * 4  # the key is forced


def test_greedy_follows_the_grammar_over_the_models_favourite() -> None:
    """The model wants to write "hello"; the grammar only lets it write a JSON integer, then end."""
    from genlab.structured import json_schema_grammar

    tok = train("char", ["hello 0123456789"])
    model = chain_model(tok, "hello")
    out = complete(model, tok, "", SamplingConfig(max_tokens=20, temperature=0,
                                                  grammar=json_schema_grammar({"type": "integer"})))
    assert out[0].text.isdigit() or out[0].text.startswith("-")
    assert out[0].finish_reason in ("stop", "length")


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_scores_that_are_not_finite_stop_decoding_with_one_clear_error(bad):
    """A diverged run's NaN would be picked silently by greedy decoding and crash multinomial sampling."""
    from genlab.generate import _safe_log_softmax

    logits = torch.zeros(2, 5)
    logits[1, 3] = bad
    with pytest.raises(GenlabError, match="not finite"):
        _safe_log_softmax(logits)
    assert torch.isfinite(_safe_log_softmax(torch.full((1, 5), -math.inf))).all()  # an unseen context: uniform
