"""The training loop: schedule, AdamW groups, exact resume, NaN handling, signals, checkpoints, --ema."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import signal

import numpy as np
import pytest
import torch

from genlab.checkpoint import torch_load
from genlab.errors import GenlabError
from genlab.models import load_model
from genlab.models.weights import load_weights
from genlab.tokens import PrepareConfig, prepare
from genlab.training.config import TrainConfig, resolve
from genlab.training.lm_task import LanguageModelTask
from genlab.training.loop import evaluate, fit, forward_backward, optimizer_step
from genlab.training.optim import build_optimizer, param_groups, set_learning_rate
from genlab.training.schedule import learning_rate, step_progress
from genlab.training.task import BEST_WEIGHTS, LATEST_WEIGHTS, TRAIN_STATE

SHAPE = dict(n_layer=1, n_head=2, n_embd=16, block_size=16, dropout=0.0)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A small prepared char-level run: patterned lines a tiny model can learn something from."""
    root = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)
    words = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "to", "her", "hat", "그", "고양이"]
    lines = [" ".join(rng.choice(words, size=rng.integers(3, 9))) + "." for _ in range(1500)]
    (root / "text.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    prepare(PrepareConfig(corpus=str(root / "text.txt"), out=str(root / "base"), unit="line",
                          split=(0.8, 0.1, 0.1)), progress=False)
    return root / "base"


@pytest.fixture
def run(prepared, tmp_path):
    """A fresh copy of the prepared run (training writes into it)."""
    import shutil

    out = tmp_path / "run"
    shutil.copytree(prepared, out)
    return out


def task_and_config(run, family="gpt", **shape):
    task = LanguageModelTask(run, family)
    values = dict(SHAPE, **shape)
    if family != "gpt":
        values.pop("n_head")
    return task, task.model_config(argparse.Namespace(**values))


def config(**kw) -> TrainConfig:
    values = dict(batch_size=4, lr=3e-3, min_lr=3e-4, warmup_steps=2, lr_decay_steps=20, max_steps=6,
                  eval_interval=3, eval_batches=2, log_interval=1, device="cpu", seed=3)
    values.update(kw)
    return TrainConfig(**values)


def train_losses(run) -> list[tuple[int, float]]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"]) for r in records if r["kind"] == "train"]


def test_schedule_warms_up_then_decays_to_min_lr():
    lrs = [learning_rate(s, 1.0, 0.1, 4, step_progress(s, 4, 14)) for s in range(20)]
    assert lrs[:4] == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert lrs[4] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:]))
    assert lrs[9] == pytest.approx(0.55)  # half-way: the mean of lr and min_lr
    assert lrs[14:] == pytest.approx([0.1] * 6)  # after the decay horizon: min_lr


def test_weight_decay_only_on_weight_matrices(run):
    task, mc = task_and_config(run)
    model = task.build_model(mc)
    decay, other = param_groups(model, 0.1)
    decayed = {id(p) for p in decay["params"]}
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(p.dim() == 2 for p in decay["params"])
    assert id(model.transformer.wte.weight) not in decayed  # embedding (= the tied head)
    assert id(model.transformer.wpe.weight) not in decayed
    assert id(model.transformer.h[0].attn.c_attn.weight) in decayed
    assert all("ln" in names[id(p)] or "bias" in names[id(p)] or "wte" in names[id(p)] or "wpe" in names[id(p)]
               for p in other["params"])
    assert len(decay["params"]) + len(other["params"]) == len(list(model.parameters()))
    assert other["weight_decay"] == 0.0


def test_embed_lr_scale_gives_the_embeddings_a_group_of_their_own_with_that_multiple_of_the_rate(run):
    task, mc = task_and_config(run)
    model = task.build_model(mc)
    assert len(param_groups(model, 0.1)) == 2  # unscaled: the layout older optimizer states were saved in
    decay, other, embed = param_groups(model, 0.1, embed_lr_scale=3.0)
    assert embed["lr_scale"] == 3.0 and embed["weight_decay"] == 0.0
    assert {id(p) for p in embed["params"]} == {id(model.transformer.wte.weight), id(model.transformer.wpe.weight)}
    assert len(decay["params"]) + len(other["params"]) + len(embed["params"]) == len(list(model.parameters()))
    for kind in ("adamw", "muon"):
        opt = build_optimizer(model, 1e-3, 0.1, (0.9, 0.99), "cpu", kind, embed_lr_scale=3.0)
        set_learning_rate(opt, 2e-3)
        rates = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
        assert rates[id(model.transformer.wte.weight)] == pytest.approx(6e-3)  # the tied head's too
        assert rates[id(model.transformer.h[0].attn.c_attn.weight)] == pytest.approx(2e-3)
        assert rates[id(model.transformer.ln_f.weight)] == pytest.approx(2e-3)


def test_scalar_lr_scale_gives_gains_and_biases_a_group_of_their_own(run):
    task, mc = task_and_config(run)
    model = task.build_model(mc)
    names = {id(p): n for n, p in model.named_parameters()}
    groups = param_groups(model, 0.1, embed_lr_scale=3.0, scalar_lr_scale=5.0)
    decay, other, embed, scalars = groups
    assert other["params"] == [] and scalars["lr_scale"] == 5.0 and scalars["weight_decay"] == 0.0
    assert {names[id(p)] for p in scalars["params"]} == {n for n, p in model.named_parameters() if p.dim() == 1}
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    _, other, scalars = param_groups(model, 0.1, scalar_lr_scale=2.0)  # the embeddings stay unscaled
    assert {id(p) for p in other["params"]} == {id(model.transformer.wte.weight), id(model.transformer.wpe.weight)}
    for kind in ("adamw", "muon"):
        opt = build_optimizer(model, 1e-3, 0.1, (0.9, 0.99), "cpu", kind, scalar_lr_scale=5.0)
        set_learning_rate(opt, 2e-3)
        rates = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
        assert rates[id(model.transformer.ln_f.weight)] == pytest.approx(1e-2)
        assert rates[id(model.transformer.wte.weight)] == pytest.approx(2e-3)
        assert rates[id(model.transformer.h[0].attn.c_attn.weight)] == pytest.approx(2e-3)
    with pytest.raises(GenlabError, match="--scalar-lr-scale"):
        TrainConfig(max_steps=1, scalar_lr_scale=-1.0).validate()


def test_resume_is_exact_with_a_scaled_embedding_rate(run, tmp_path):
    import shutil

    split = tmp_path / "split"
    shutil.copytree(run, split)
    task, mc = task_and_config(run)
    fit(task, config(max_steps=6, embed_lr_scale=4.0), run, mc, progress=False)
    task, mc = task_and_config(split)
    fit(task, config(max_steps=3, embed_lr_scale=4.0), split, mc, progress=False)
    fit(LanguageModelTask(split, "gpt"), config(max_steps=6, embed_lr_scale=4.0), split, mc, resume=True,
        progress=False)
    assert train_losses(split) == train_losses(run)
    with pytest.raises(GenlabError, match="--embed-lr-scale"):
        TrainConfig(max_steps=1, embed_lr_scale=0.0).validate()


def test_flags_override_preset_which_overrides_defaults():
    args = argparse.Namespace(lr=0.01, batch_size=None, time_budget=30.0, device="cpu")
    cfg = resolve(args, {"lr": 0.5, "min_lr": 0.05, "max_steps": 100, "batch_size": 7})
    assert cfg.lr == 0.01 and cfg.min_lr == pytest.approx(0.001)  # --lr alone: min-lr follows it
    assert cfg.batch_size == 7 and cfg.time_budget == 30.0 and cfg.max_steps is None
    with pytest.raises(GenlabError, match="multiple"):
        resolve(argparse.Namespace(batch_size=6, grad_accum=4))


def test_training_lowers_the_loss_and_writes_the_run(run):
    task, mc = task_and_config(run)
    result = fit(task, config(max_steps=30, eval_interval=10, lr=1e-2, warmup_steps=5), run, mc, progress=False)
    assert result.steps == 30 and result.stopped == "max_steps"
    losses = [loss for _, loss in train_losses(run)]
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.3
    assert result.best_val_loss <= result.last_val_loss and math.isfinite(result.val_perplexity)
    for name in (LATEST_WEIGHTS, BEST_WEIGHTS, TRAIN_STATE, "metrics.jsonl", "loss.png", "config.json"):
        assert (run / name).is_file(), name
    assert (run / "loss.png").read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((run / "config.json").read_text())
    assert saved["model"]["family"] == "gpt" and saved["train"]["max_steps"] == 30
    assert saved["train"]["weight_decay"] == 0.1  # defaults are recorded too
    model, tok, _ = load_model(run, which="latest")
    assert model.vocab_size == tok.vocab_size
    record = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()][0]
    assert {"grad_norm", "clip_rate", "tokens_per_s", "lr", "time"} <= set(record)


def test_same_seed_same_numbers(run, tmp_path):
    import shutil

    other = tmp_path / "other"
    shutil.copytree(run, other)
    for path in (run, other):
        task, mc = task_and_config(path, dropout=0.1)
        fit(task, config(), path, mc, progress=False)
    assert train_losses(run) == train_losses(other)


@pytest.mark.parametrize("family", ["gpt", "lstm"])
def test_resume_continues_the_same_curve(run, tmp_path, family):
    """2N steps straight == N steps, then --resume with --max-steps 2N (dropout on: torch RNG restored)."""
    import shutil

    split = tmp_path / "split"
    shutil.copytree(run, split)
    task, mc = task_and_config(run, family, dropout=0.1)
    fit(task, config(max_steps=8, log_interval=3), run, mc, progress=False)
    task, mc = task_and_config(split, family, dropout=0.1)
    first = fit(task, config(max_steps=4, log_interval=3), split, mc, progress=False)
    assert first.steps == 4
    task = LanguageModelTask(split, family)
    second = fit(task, config(max_steps=8, log_interval=3), split, mc, resume=True, progress=False)
    assert second.steps == 8
    assert train_losses(split) == train_losses(run)  # exactly equal, not approximately
    a, b = task.build_model(mc), task.build_model(mc)
    load_weights(a, run / LATEST_WEIGHTS)
    load_weights(b, split / LATEST_WEIGHTS)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name


def test_grad_accumulation_matches_one_big_batch(run):
    task, mc = task_and_config(run)
    grads = []
    for accum in (1, 2):
        torch.manual_seed(0)
        model = task.build_model(mc)
        cfg = config(batch_size=8, grad_accum=accum)
        loss, tokens = forward_backward(model, task, cfg, np.random.default_rng(5), "cpu",
                                        lambda: torch.autocast("cpu", enabled=False), None)
        assert tokens == 8 * 16
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    torch.testing.assert_close(grads[0], grads[1], atol=1e-6, rtol=1e-4)


def test_clipping_bounds_the_update_and_reports_the_pre_clip_norm(run):
    task, mc = task_and_config(run)
    model = task.build_model(mc)
    opt = build_optimizer(model, 1e-3, 0.0, (0.9, 0.99), "cpu")
    for p in model.parameters():
        p.grad = torch.full_like(p, 10.0)
    expected = math.sqrt(sum(p.numel() for p in model.parameters()) * 100.0)
    captured = []
    orig = opt.step
    opt.step = lambda: (captured.append(math.sqrt(sum(float(p.grad.square().sum()) for p in model.parameters()))),
                        orig())
    norm = optimizer_step(model, opt, None, clip=1.0)
    assert norm == pytest.approx(expected, rel=1e-4) and captured[0] == pytest.approx(1.0, rel=1e-4)
    for p in model.parameters():
        p.grad = torch.full_like(p, 10.0)
    captured.clear()
    assert optimizer_step(model, opt, None, clip=0) == pytest.approx(expected, rel=1e-4)
    assert captured[0] == pytest.approx(expected, rel=1e-4)  # clip 0: measured, not clipped


class NaNTask(LanguageModelTask):
    """Gives a NaN loss on the ``bad``-th training batch."""

    def __init__(self, run, bad: int):
        super().__init__(run, "gpt")
        self.bad, self.calls = bad, 0

    def loss(self, model, batch):
        loss = super().loss(model, batch)
        if model.training:
            self.calls += 1
            if self.calls == self.bad:
                return loss * float("nan")
        return loss


def test_nan_loss_stops_with_the_step_and_last_good_checkpoint(run):
    _, mc = task_and_config(run)
    with pytest.raises(GenlabError) as err:
        fit(NaNTask(run, bad=5), config(max_steps=8), run, mc, progress=False)
    message = str(err.value)
    assert "step 5" in message and "step 3" in message and LATEST_WEIGHTS in message and "--on-nan skip" in message
    assert (run / LATEST_WEIGHTS).is_file()  # the good checkpoint is still there


def test_nan_skip_skips_the_batch_and_halves_the_lr(run, capsys):
    _, mc = task_and_config(run)
    result = fit(NaNTask(run, bad=2), config(max_steps=5, on_nan="skip"), run, mc, progress=False)
    assert result.steps == 5
    assert "learning rate halved" in capsys.readouterr().out
    state = torch.load(run / TRAIN_STATE, weights_only=True)
    assert state["progress"]["lr_scale"] == 0.5 and state["progress"]["skipped"] == 1
    steps = [s for s, _ in train_losses(run)]
    assert 2 not in steps and all(math.isfinite(x) for _, x in train_losses(run))


class InterruptingTask(LanguageModelTask):
    """Sends this process SIGINT while drawing the ``at``-th training batch (as Ctrl-C would)."""

    def __init__(self, run, at: int):
        super().__init__(run, "gpt")
        self.at, self.calls = at, 0

    def batch(self, split, batch_size, rng):
        if split == "train" and batch_size > 1:  # not the one-window data check before training
            self.calls += 1
            if self.calls == self.at:
                os.kill(os.getpid(), signal.SIGINT)
        return super().batch(split, batch_size, rng)


def test_ctrl_c_finishes_the_step_saves_and_resumes(run, capsys):
    _, mc = task_and_config(run)
    result = fit(InterruptingTask(run, at=4), config(max_steps=50, eval_interval=100), run, mc, progress=False)
    assert result.interrupted and result.steps == 4
    assert "SIGINT" in capsys.readouterr().err
    state = torch.load(run / TRAIN_STATE, weights_only=True)
    assert state["progress"]["step"] == 4
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored
    result = fit(LanguageModelTask(run, "gpt"), config(max_steps=6), run, mc, resume=True, progress=False)
    assert result.steps == 6 and not result.interrupted


def test_time_budget_epochs_and_early_stopping(run):
    task, mc = task_and_config(run)
    result = fit(task, config(max_steps=None, time_budget=1.0, eval_interval=1000), run, mc, progress=False)
    assert result.stopped == "time_budget" and result.steps >= 1 and math.isfinite(result.last_val_loss)
    task, mc = task_and_config(run)
    result = fit(task, config(max_steps=None, epochs=0.02), run, mc, progress=False)
    expected = math.ceil(0.02 * task.train_tokens / (4 * 16))
    assert result.steps == expected
    task, mc = task_and_config(run)
    result = fit(task, config(max_steps=200, lr=0.0, min_lr=0.0, eval_interval=1, early_stop=2), run, mc,
                 progress=False)
    assert result.stopped == "early_stop" and result.steps == 3  # lr 0: val never improves after step 1


def test_masked_lm_epochs_count_passes_over_the_text(run):
    """A BERT's loss counts masked positions only; ``--epochs`` must still mean passes over the windows' text."""
    from genlab.training.mlm_task import MaskedLMTask

    task = MaskedLMTask(run)
    values = dict(SHAPE)
    mc = task.model_config(argparse.Namespace(**values))
    result = fit(task, config(max_steps=None, epochs=0.5, batch_size=4, eval_interval=1000), run, mc, progress=False)
    windows = 0.5 * len(task._split("train")) / (4 * mc["block_size"])  # steps of 4 windows in half an epoch
    assert 0.75 * windows <= result.steps <= 1.25 * windows  # masking is random: about, not exactly


def test_best_and_latest_weights_are_both_kept(run):
    task, mc = task_and_config(run)
    fit(task, config(max_steps=6, eval_interval=3), run, mc, progress=False)
    best, _, _ = load_model(run, which="best")
    latest, _, _ = load_model(run, which="latest")
    from safetensors import safe_open

    with safe_open(str(run / BEST_WEIGHTS), framework="pt") as fh:
        best_step = int(fh.metadata()["step"])
    assert best_step in (3, 6)
    x = torch.randint(0, best.vocab_size, (1, 8))
    same = torch.equal(best.logits(x), latest.logits(x))
    assert same == (best_step == 6)


def test_split_too_short_for_the_context_is_a_clear_error(run):
    task, mc = task_and_config(run, block_size=5000)
    with pytest.raises(GenlabError, match="block-size"):
        fit(task, config(), run, mc, progress=False)


def test_bfloat16_autocast_trains(run):
    task, mc = task_and_config(run)
    result = fit(task, config(max_steps=2, dtype="bfloat16"), run, mc, progress=False)
    assert result.steps == 2 and math.isfinite(result.last_val_loss)
    assert all(math.isfinite(loss) for _, loss in train_losses(run))


def test_half_precision_on_a_cpu_without_bf16_instructions_keeps_float32_and_says_so(monkeypatch, capsys):
    from genlab.training import loop as train_module

    monkeypatch.setattr(train_module, "cpu_has_bf16", lambda: False)
    assert train_module.resolve_dtype("bfloat16", "cpu") == "float32"
    assert "training in float32" in capsys.readouterr().err
    assert train_module.resolve_dtype("float16", "cpu") == "float32"
    monkeypatch.setattr(train_module, "cpu_has_bf16", lambda: True)
    assert train_module.resolve_dtype("bfloat16", "cpu") == "bfloat16"
    assert train_module.resolve_dtype("float16", "cpu") == "float32"
    assert train_module.resolve_dtype("bfloat16", "cuda:0") == "bfloat16"  # GPUs autocast as asked
    assert train_module.resolve_dtype("float32", "cpu") == "float32"


def test_grad_accumulation_that_does_not_divide_evenly_gives_the_full_batch_gradient(run):
    """5 rows in micro-batches of at most 2 (2+2+1), each weighted by its tokens: one batch of 5's gradient."""
    from genlab.training.distributed import micro_slices
    from genlab.training.loop import accumulate

    task, mc = task_and_config(run)
    assert [s.stop - s.start for s in micro_slices(5, 2)] == [2, 2, 1]
    grads = []
    for micro in (5, 2):
        torch.manual_seed(0)
        model = task.build_model(mc)
        cfg = _Micro(config(batch_size=5, grad_accum=1), micro)
        _, tokens = accumulate(model, task, cfg, np.random.default_rng(5), "cpu",
                               lambda: torch.autocast("cpu", enabled=False), None)
        assert tokens == 5 * 16
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    torch.testing.assert_close(grads[0], grads[1], atol=1e-6, rtol=1e-4)


class _Micro:
    """A TrainConfig whose micro-batch does not divide the batch (as under torchrun with uneven shares)."""

    def __init__(self, cfg: TrainConfig, micro: int) -> None:
        self._cfg, self.micro_batch = cfg, micro

    def __getattr__(self, name):
        return getattr(self._cfg, name)


def test_a_cpu_clock_budget_counts_process_cpu_time(run, monkeypatch):
    from genlab.training import loop

    ticks = iter(range(0, 10_000, 1))  # each call of the CPU clock advances one "second"
    monkeypatch.setattr(loop.time, "process_time", lambda: float(next(ticks)))
    task, mc = task_and_config(run)
    result = fit(task, config(max_steps=None, time_budget=5.0, budget_clock="cpu", eval_interval=1000), run, mc,
                 progress=False)
    assert result.stopped == "time_budget" and 1 <= result.steps <= 5
    with pytest.raises(GenlabError, match="--budget-clock must be wall or cpu"):
        config(budget_clock="sundial").validate()


def test_resume_is_exact_with_muon_and_the_modern_gpt(run, tmp_path):
    """Muon's momentum and AdamW's moments both come back: N + N steps == 2N steps, bit for bit."""
    import shutil

    modern = dict(positions="rope", qk_norm=True, activation="relu2", tie_weights=False, dropout=0.1)
    split = tmp_path / "split"
    shutil.copytree(run, split)
    task, mc = task_and_config(run, **modern)
    fit(task, config(max_steps=6, log_interval=2, optimizer="muon"), run, mc, progress=False)
    task, mc = task_and_config(split, **modern)
    fit(task, config(max_steps=3, log_interval=2, optimizer="muon"), split, mc, progress=False)
    fit(LanguageModelTask(split, "gpt"), config(max_steps=6, log_interval=2, optimizer="muon"), split, mc,
        resume=True, progress=False)
    assert train_losses(split) == train_losses(run)
    a, b = load_model(run, which="latest")[0], load_model(split, which="latest")[0]
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name


def test_dtype_auto_probes_records_the_choice_and_resume_keeps_it(run, capsys):
    task, mc = task_and_config(run)
    fit(task, config(max_steps=2, dtype="auto"), run, mc, progress=False)
    out = capsys.readouterr().out
    assert "--dtype auto: float32" in out and "bfloat16" in out and "→ training in" in out
    chosen = json.loads((run / "config.json").read_text())["runtime"]["dtype"]
    assert chosen in ("float32", "bfloat16")
    fit(LanguageModelTask(run, "gpt"), config(max_steps=3, dtype="auto"), run, mc, resume=True, progress=False)
    assert "--dtype auto" not in capsys.readouterr().out  # no second probe: the run keeps its dtype
    assert json.loads((run / "config.json").read_text())["runtime"]["dtype"] == chosen


@pytest.mark.parametrize("flag, value", [("qk_norm", True), ("positions", "rope"), ("activation", "relu2")])
def test_gpt_only_flags_are_refused_for_recurrent_models(run, flag, value):
    with pytest.raises(GenlabError, match=f"--{flag.replace('_', '-')} is for --model gpt"):
        LanguageModelTask(run, "lstm").model_config(argparse.Namespace(**{flag: value}))


def test_optimizer_is_validated():
    with pytest.raises(GenlabError, match="--optimizer"):
        TrainConfig(max_steps=1, optimizer="sgd").validate()


def test_best_weights_are_the_average_and_latest_the_live_ones(run):
    task, mc = task_and_config(run)  # one evaluation, at the end: the best file is that step's average
    fit(task, config(max_steps=12, eval_interval=12, ema=0.8, lr=1e-2, warmup_steps=2), run, mc, progress=False)
    live, best = task.build_model(mc), task.build_model(mc)
    load_weights(live, run / LATEST_WEIGHTS)
    load_weights(best, run / BEST_WEIGHTS)
    saved = torch_load(run / TRAIN_STATE)["weight_average"]
    assert set(saved) == {n for n, _ in live.named_parameters()}
    for n, p in best.named_parameters():
        assert torch.equal(p, saved[n]), n
    assert any(not torch.equal(p, saved[n]) for n, p in live.named_parameters())  # the average lags the live


def test_the_average_scores_what_the_metrics_say(run):
    """The logged val loss is the average's: scoring the saved average reproduces the last evaluation."""
    task, mc = task_and_config(run)
    cfg = config(max_steps=8, eval_interval=8, ema=0.7, lr=1e-2, warmup_steps=2)
    fit(task, cfg, run, mc, progress=False)
    model = task.build_model(mc)
    model.load_state_dict(torch_load(run / TRAIN_STATE)["weight_average"], strict=False)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    logged = [r for r in records if r["kind"] == "eval"][-1]["val_loss"]
    assert evaluate(model, task, cfg, "cpu", contextlib.nullcontext) == pytest.approx(logged, rel=1e-5)


def test_resume_with_the_average_continues_the_same_curve(run, tmp_path):
    split = tmp_path / "split"
    shutil.copytree(run, split)
    task, mc = task_and_config(run)
    fit(task, config(max_steps=8, eval_interval=2, ema=0.9), run, mc, progress=False)
    task, mc = task_and_config(split)
    fit(task, config(max_steps=4, eval_interval=2, ema=0.9), split, mc, progress=False)
    fit(LanguageModelTask(split, "gpt"), config(max_steps=8, eval_interval=2, ema=0.9), split, mc, resume=True,
        progress=False)
    whole, halves = torch_load(run / TRAIN_STATE), torch_load(split / TRAIN_STATE)
    for name, tensor in whole["weight_average"].items():
        assert torch.equal(tensor, halves["weight_average"][name]), name
    evals = [[json.loads(x)["val_loss"] for x in (r / "metrics.jsonl").read_text().splitlines()
              if json.loads(x)["kind"] == "eval"] for r in (run, split)]
    assert evals[0] == evals[1]


def test_ema_can_be_switched_on_when_resuming(run):
    """A run saved without an average starts one from its live weights when resumed with --ema."""
    task, mc = task_and_config(run)
    fit(task, config(max_steps=4), run, mc, progress=False)
    assert "weight_average" not in torch_load(run / TRAIN_STATE)
    fit(LanguageModelTask(run, "gpt"), config(max_steps=5, ema=0.9), run, mc, resume=True, progress=False)
    average = torch_load(run / TRAIN_STATE)["weight_average"]
    model = task.build_model(mc)
    load_weights(model, run / LATEST_WEIGHTS)
    for name, p in model.named_parameters():  # one update after the restart: a mix of step 4 and step 5
        assert average[name].shape == p.shape and not torch.equal(average[name], p), name
