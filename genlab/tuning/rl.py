"""RLHF's reinforcement step: sample answers, score them, and move the policy toward the better ones.

Each training step samples ``K`` answers per prompt from the current policy, then scores each with

    R = reward model's score − β · KL(policy ‖ reference)

where the KL of one answer is the sum over *its generated tokens* of ``log π(t) − log π_ref(t)`` (the
tokens the policy actually produced, up to and including the token that ended the answer, and no
padding after it: summing over positions past the end is what makes KL estimates go negative). The
reference is the policy as it was at the start, frozen; the KL "leash" keeps the policy from drifting
into text the reward model scores well but nobody would write (reward hacking). An adaptive
controller moves β so the KL per answer tracks a target (default 6 nats).

Three ways to turn the scores into a gradient:

- **RLOO** (REINFORCE leave-one-out, Ahmadian et al. 2024): each answer's advantage is its R minus the
  mean R of the other ``K − 1`` answers to the same prompt (the advantages of a group sum to zero),
  and the loss is ``−advantage · log π(answer)``.
- **PPO** (Schulman et al. 2017) with a group baseline instead of a value network (as GRPO does): the
  advantage is R standardised within its group, and the clipped surrogate
  ``min(ρ A, clip(ρ, 1 ± ε) A)`` with ``ρ = π(t) / π_old(t)`` is optimised for ``--ppo-epochs`` steps on the
  same samples.
- **Online DPO** (Guo et al. 2024, "Direct Language Model Alignment from Online AI Feedback"): the best
  and the worst of the ``K`` fresh answers to each prompt make one pair, and the DPO loss learns from it,
  labelled with the reward model's probability that the best wins (see :func:`online_dpo_advantages`).
  β is DPO's β, which is the same KL weight. Offline DPO (:mod:`genlab.tuning.dpo`) learns from pairs
  sampled once from the starting policy; online, the pairs follow the policy as it moves.

Sampling happens inside the task's ``batch`` (a phase before the loss): the one training loop does
the rest, as for every other method.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from genlab.errors import GenlabError
from genlab.generate import SamplingConfig, complete
from genlab.tuning.jsonl import numbered_lines
from genlab.tuning.sequences import Renderer, pad, token_logprobs
from genlab.tuning.template import Message

ALGORITHMS = ("rloo", "ppo", "online-dpo")


def read_prompts(path: str | Path) -> list[tuple[Message, ...]]:
    """One prompt per line, or JSONL with ``prompt`` (a string) or ``messages``; an empty line is the
    empty prompt (answers start a document)."""
    path = Path(path)
    if not path.is_file():
        raise GenlabError(f"prompts file {path} not found; pass a text file with one prompt per line")
    if path.stat().st_size == 0:
        raise GenlabError(f"prompts file {path} is empty; write one prompt per line (an empty line asks for a "
                          "document from its start)")
    prompts: list[tuple[Message, ...]] = []
    for number, text in numbered_lines(path):
        stripped = text.strip()
        if stripped.startswith("{"):
            try:
                record = json.loads(stripped)
            except json.JSONDecodeError as exc:
                raise GenlabError(f"{path}:{number}: invalid JSON ({exc.msg}); write one prompt per line or one "
                                  "JSON object with 'prompt' or 'messages'") from exc
            if isinstance(record.get("prompt"), str):
                prompts.append((Message("user", record["prompt"]),) if record["prompt"] else ())
            elif isinstance(record.get("messages"), list):
                try:
                    prompts.append(tuple(Message(m["role"], m["content"]) for m in record["messages"]))
                except (KeyError, TypeError) as exc:
                    raise GenlabError(f"{path}:{number}: each message needs 'role' and 'content'") from exc
            else:
                raise GenlabError(f"{path}:{number}: a JSON line needs 'prompt' (a string) or 'messages'")
        else:
            prompts.append((Message("user", text.rstrip("\r")),) if text.strip() else ())
    if text_is_trailing_blank(prompts, path):
        prompts.pop()
    if not prompts:
        raise GenlabError(f"{path} holds no prompts")
    return prompts


def text_is_trailing_blank(prompts: list, path: Path) -> bool:
    """A file's final newline is not an extra empty prompt."""
    return bool(prompts) and prompts[-1] == () and path.read_bytes().endswith(b"\n")


def rloo_advantages(rewards: torch.Tensor, k: int) -> torch.Tensor:
    """``R_i − mean of the other K−1 rewards`` within each group of ``k`` consecutive answers."""
    groups = rewards.view(-1, k)
    others = (groups.sum(dim=1, keepdim=True) - groups) / (k - 1)
    return (groups - others).reshape(-1)


def group_advantages(rewards: torch.Tensor, k: int) -> torch.Tensor:
    """Rewards standardised within each group (PPO's baseline here, in place of a value network)."""
    groups = rewards.view(-1, k)
    return ((groups - groups.mean(dim=1, keepdim=True)) / (groups.std(dim=1, keepdim=True) + 1e-6)).reshape(-1)


def kl_per_sequence(policy_lp: torch.Tensor, ref_lp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Σ over the answer's own tokens of ``log π − log π_ref`` (the sampled-token estimate of the KL)."""
    return ((policy_lp - ref_lp) * mask).sum(dim=-1)


def distinct_2(answers: list[list[int]]) -> float:
    """Distinct bigrams over all bigrams of the answers (1.0 = no repetition at all)."""
    grams = [tuple(a[i:i + 2]) for a in answers for i in range(len(a) - 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def online_dpo_advantages(scores: torch.Tensor, policy: torch.Tensor, reference: torch.Tensor, k: int,
                          beta: float) -> torch.Tensor:
    """Per-answer weights whose policy gradient ``−mean(w · log π(answer))`` equals the gradient of the DPO
    loss on each group's (best, worst) pair by ``scores``, averaged over the groups.

    The pair's label is not a hard "best wins" but the reward model's own Bradley–Terry probability
    ``p = σ(r_best − r_worst)``: ``L = −p log σ(βm) − (1 − p) log σ(−βm)`` with the margin
    ``m = (π_b − ref_b) − (π_w − ref_w)`` of summed log-probabilities. Its minimum is at ``βm = r_b − r_w``,
    which is where the KL-regularised optimum ``π ∝ π_ref · exp(r / β)`` puts the pair. With hard labels
    the loss only saturates at an infinite margin, and online (fresh pairs every step, always one
    "winner") the KL ran away: 15 nats at β 0.5 in 120 CPU-s on NSMC, with the answers collapsing into
    repetition. ``∇L = −β (p − σ(βm)) ∇m``: the best answer gets ``+β (p − σ(βm))``, the worst the
    negative, the rest 0 (times ``k``: the mean runs over answers, DPO's over pairs). Written as weights
    so that micro-batches may slice the answers of one group apart.
    """
    scores, delta = scores.view(-1, k), (policy - reference).view(-1, k)
    best, worst = scores.argmax(dim=1), scores.argmin(dim=1)
    rows = torch.arange(scores.shape[0])
    label = torch.sigmoid(scores[rows, best] - scores[rows, worst])
    margin = delta[rows, best] - delta[rows, worst]
    weight = k * beta * (label - torch.sigmoid(beta * margin)) * (best != worst)
    adv = torch.zeros_like(scores)
    adv[rows, best] = weight
    adv[rows, worst] = -weight
    return adv.reshape(-1)


class AdaptiveKL:
    """β moves by at most ±20 % of ``rate`` per step, in proportion to how far the KL is from its target."""

    def __init__(self, beta: float, target: float | None, rate: float = 0.1) -> None:
        self.beta, self.target, self.rate = beta, target, rate

    def update(self, kl: float) -> None:
        if self.target:
            error = max(-0.2, min(0.2, kl / self.target - 1))
            self.beta *= 1 + self.rate * error


@dataclass
class RLSettings:
    algo: str = "rloo"
    beta: float = 0.05
    target_kl: float | None = 6.0  # nats per answer; None: fixed β
    samples: int = 4  # K answers per prompt
    max_new_tokens: int = 48
    temperature: float = 1.0
    ppo_epochs: int = 2
    clip: float = 0.2
    reward_clip: float | None = None  # reward model scores clamped to ±this before the KL penalty; None: raw

    def __post_init__(self) -> None:
        if self.algo == "online-dpo":
            self.target_kl = None  # DPO's β is the leash; no controller moves it


class RLTask:
    """The :class:`genlab.training.task.TrainTask` for RLOO and PPO; ``batch`` is the sampling phase."""

    cross_entropy_loss = False  # its val loss is no cross-entropy: no perplexity is reported

    def __init__(self, family: str, renderer: Renderer, reward_renderer: Renderer, prompts: dict[str, list],
                 block_size: int, build_policy: Any, load_reward: Any, settings: RLSettings,
                 info: dict[str, Any]) -> None:
        if settings.algo not in ALGORITHMS:
            raise GenlabError(f"--algo must be one of {', '.join(ALGORITHMS)}")
        if settings.samples < 2:
            raise GenlabError("--samples must be ≥ 2 (each answer is judged against the other answers to its prompt)")
        self.family = family
        self.renderer, self.reward_renderer = renderer, reward_renderer
        self.prompts = prompts
        self.block_size = block_size
        self.settings = settings
        self.kl = AdaptiveKL(settings.beta, settings.target_kl)
        self._build, self._load_reward = build_policy, load_reward
        self._info = info
        self._cache: dict[str, Any] = {}
        self._stats: dict[str, float] = {}

    @property
    def tokenizer_fingerprint(self) -> str:
        return self.renderer.tokenizer.fingerprint()

    def run_info(self) -> dict[str, Any]:
        return self._info

    def model_config(self, args: argparse.Namespace) -> dict[str, Any]:
        raise GenlabError("an RL run takes its model config from its policy run")

    def build_model(self, model_config: dict[str, Any]) -> nn.Module:
        self.policy = self._build(model_config)
        self.reference = copy.deepcopy(self.policy).eval()
        for p in self.reference.parameters():
            p.requires_grad_(False)
        self.reward_model = self._load_reward()
        return self.policy

    # --- resume: β, the PPO sample cache and the running statistics travel with the checkpoint -----------
    def state_dict(self) -> dict[str, Any]:
        return {"beta": self.kl.beta, "cache": dict(self._cache), "stats": dict(self._stats)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.kl.beta = float(state.get("beta", self.kl.beta))
        self._cache = dict(state.get("cache") or {})
        self._stats = dict(state.get("stats") or {})

    # --- the sampling phase ---------------------------------------------------------------------------
    def _device(self) -> torch.device:
        return next(self.policy.parameters()).device

    def _sample(self, prompts: list[tuple[Message, ...]], seed: int) -> dict[str, Any]:
        s = self.settings
        device = self._device()
        sequences, rm_sequences, answers = [], [], []
        was_training = self.policy.training
        self.policy.eval()
        try:
            for i, prompt in enumerate(prompts):
                head = self.renderer.prompt_ids(prompt)
                cfg = SamplingConfig(max_tokens=s.max_new_tokens, temperature=s.temperature, seed=seed + i,
                                     stop_ids=self.renderer.stop_ids())
                # ``complete`` puts <eos> first itself, so it gets the prompt without it
                for c in complete(self.policy, self.renderer.tokenizer, head[1:], cfg, num=s.samples, device=device):
                    tail = [t.id for t in c.tokens]  # every generated token, the one that ended it included
                    sequences.append((head + tail, [0] * len(head) + [1] * len(tail)))
                    rm_sequences.append(self.reward_renderer.sequence(prompt, c.text))
                    answers.append(tail)
        finally:
            self.policy.train(was_training)
        ids, mask, _ = pad(sequences, self.block_size + 1)
        rm_ids, _, rm_len = pad(rm_sequences, getattr(self.reward_model, "block_size", None))
        with torch.inference_mode():
            ids_d = ids.to(device)
            logits = self.policy(ids_d[:, :-1]).float()
            logp_all = torch.log_softmax(logits, dim=-1)
            old_lp = logp_all.gather(-1, ids_d[:, 1:, None]).squeeze(-1).cpu()
            entropy = -(logp_all.exp() * logp_all).sum(-1).cpu()
            ref_lp = token_logprobs(self.reference, ids_d).cpu()
            scores = self.reward_model(rm_ids.to(device), rm_len).float().cpu()
        target_mask = mask[:, 1:]
        kl = kl_per_sequence(old_lp, ref_lp, target_mask)
        # a clipped score stops paying for "even more positive" once an answer is clearly so, and the KL
        # term then pulls the policy back toward the varied text of the reference (TRL's score_clip)
        reward = scores.clamp(-s.reward_clip, s.reward_clip) if s.reward_clip else scores
        total = reward - self.kl.beta * kl
        if s.algo == "rloo":
            adv = rloo_advantages(total, s.samples)
        elif s.algo == "ppo":
            adv = group_advantages(total, s.samples)
        else:  # the reward model ranks, DPO learns: the KL enters through the reference, not the reward
            adv = online_dpo_advantages(reward, (old_lp * target_mask).sum(-1), (ref_lp * target_mask).sum(-1),
                                        s.samples, s.beta)
        # what evaluation reports (and picks the best checkpoint by): the objective at the *starting* β, so
        # evaluations stay comparable while the controller moves β
        judged = reward - s.beta * kl
        lengths = target_mask.sum(-1)
        stats = {"reward": float(scores.mean()), "kl": float(kl.mean()), "objective": float(total.mean()),
                 "clipped": float((scores.abs() >= s.reward_clip).float().mean()) if s.reward_clip else 0.0,
                 "entropy": float((entropy * target_mask).sum() / target_mask.sum().clamp(min=1)),
                 "length": float(lengths.float().mean()), "distinct_2": distinct_2(answers), "beta": self.kl.beta}
        return {"ids": ids, "mask": mask, "old_lp": old_lp, "adv": adv, "objective": judged, "stats": stats}

    def batch(self, split: str, batch_size: int, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        """``batch_size`` prompts × ``--samples`` answers each, sampled now from the current policy."""
        prompts = self.prompts[split]
        if not prompts:
            raise GenlabError(f"no {split} prompts; give more prompts or lower --val-fraction")
        key = f"{split}:{batch_size}"
        cached = self._cache.get(key)
        if split == "train" and self.settings.algo == "ppo" and cached and cached["uses"] < self.settings.ppo_epochs:
            cached["uses"] += 1  # PPO: several optimisation steps on the same samples
            sample = cached
        else:
            idx = rng.integers(len(prompts), size=batch_size)
            sample = self._sample([prompts[i] for i in idx], int(rng.integers(1 << 31)))
            if split == "train":
                self._record(sample["stats"])
                self.kl.update(sample["stats"]["kl"])
                if self.settings.algo == "ppo":
                    self._cache = {key: {**sample, "uses": 1}}
        flag = torch.full((len(sample["adv"]),), float(split == "train"))  # per row: batches are sliced by row
        return sample["ids"], sample["mask"], sample["old_lp"], sample["adv"], sample["objective"], flag

    def _record(self, stats: dict[str, float]) -> None:
        n = self._stats.get("batches", 0.0)
        for key, value in stats.items():
            self._stats[key] = (self._stats.get(key, 0.0) * n + value) / (n + 1)
        self._stats["batches"] = n + 1

    # --- the loss -------------------------------------------------------------------------------------
    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        ids, mask, old_lp, adv, objective, train = batch
        if not bool(train.all()):  # evaluation: the mean objective (at the starting β) on held-out prompts, as a loss
            return -objective.float().mean()
        lp = token_logprobs(model, ids)
        target_mask = mask[:, 1:]
        if self.settings.algo != "ppo":  # rloo and online DPO: a policy gradient with per-answer weights
            return -(adv * (lp * target_mask).sum(dim=-1)).mean()
        ratio = torch.exp(lp - old_lp)
        a = adv[:, None]
        surrogate = torch.min(ratio * a, ratio.clamp(1 - self.settings.clip, 1 + self.settings.clip) * a)
        per_answer = (surrogate * target_mask).sum(-1) / target_mask.sum(-1).clamp(min=1)
        return -per_answer.mean()

    def count_tokens(self, batch: tuple[torch.Tensor, ...]) -> int:
        return int(batch[1][:, 1:].sum())

    def extra_metrics(self, model: nn.Module) -> dict[str, float]:
        """The training samples' averages since the last evaluation (then reset)."""
        stats = {k: v for k, v in self._stats.items() if k != "batches" and math.isfinite(v)}
        self._stats = {}
        return stats
