"""The preference losses against hand-computed values, and what they do on a 2-token toy bandit."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from genlab.tuning.dpo import dpo_loss
from genlab.tuning.reward import bradley_terry_loss
from genlab.tuning.rl import (
    AdaptiveKL,
    distinct_2,
    group_advantages,
    kl_per_sequence,
    online_dpo_advantages,
    rloo_advantages,
)


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_bradley_terry_loss_by_hand():
    chosen, rejected = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([1.0, 0.0, 0.5])
    expected = -sum(math.log(sigmoid(c - r)) for c, r in zip(chosen.tolist(), rejected.tolist())) / 3
    assert float(bradley_terry_loss(chosen, rejected)) == pytest.approx(expected, rel=1e-6)


def test_dpo_loss_by_hand():
    pc, pr, rc, rr = torch.tensor([-3.0, -5.0]), torch.tensor([-4.0, -2.0]), torch.tensor([-3.5, -4.0]), \
        torch.tensor([-3.0, -3.0])
    beta = 0.3
    expected = -sum(math.log(sigmoid(beta * ((a - c) - (b - d))))
                    for a, b, c, d in zip(pc.tolist(), pr.tolist(), rc.tolist(), rr.tolist())) / 2
    assert float(dpo_loss(pc, pr, rc, rr, beta)) == pytest.approx(expected, rel=1e-6)
    # at the reference the loss is log 2 whatever β
    assert float(dpo_loss(rc, rr, rc, rr, 5.0)) == pytest.approx(math.log(2))


def test_rloo_advantages_sum_to_zero_per_group():
    rewards = torch.tensor([1.0, 2.0, 3.0, 6.0, 0.0, 0.0, 0.0, 4.0])
    adv = rloo_advantages(rewards, 4)
    assert torch.allclose(adv.view(2, 4).sum(dim=1), torch.zeros(2), atol=1e-6)
    assert float(adv[0]) == pytest.approx(1.0 - (2 + 3 + 6) / 3)
    assert torch.allclose(group_advantages(rewards, 4).view(2, 4).sum(dim=1), torch.zeros(2), atol=1e-5)


def test_kl_estimate_is_zero_at_the_reference_and_non_negative_in_expectation():
    torch.manual_seed(0)
    lp = torch.log_softmax(torch.randn(5, 7), -1)
    mask = torch.ones(5, 7)
    assert torch.equal(kl_per_sequence(lp, lp, mask), torch.zeros(5))
    policy, reference = torch.softmax(torch.randn(10), 0), torch.softmax(torch.randn(10), 0)
    samples = torch.multinomial(policy, 200_000, replacement=True)
    estimate = (policy.log() - reference.log())[samples]  # one token per "sequence"
    true_kl = float((policy * (policy.log() - reference.log())).sum())
    assert true_kl > 0 and float(estimate.mean()) == pytest.approx(true_kl, abs=0.02)
    padded = kl_per_sequence(lp, lp + 1.0, torch.tensor([[1, 1, 0, 0, 0, 0, 0]] * 5, dtype=torch.float32))
    assert torch.equal(padded, torch.full((5,), -2.0))  # only the answer's own tokens count


def _bandit_logprob(logits: torch.Tensor, token: int) -> torch.Tensor:
    return torch.log_softmax(logits, -1)[token]


def test_on_a_toy_bandit_rloo_and_dpo_both_move_probability_to_the_preferred_token():
    torch.manual_seed(0)
    # RLOO: reward 1 for token 1, 0 for token 0; four samples per step
    logits = torch.zeros(2, requires_grad=True)
    opt = torch.optim.SGD([logits], lr=0.5)
    for _ in range(60):
        tokens = torch.multinomial(torch.softmax(logits.detach(), -1), 4, replacement=True)
        adv = rloo_advantages(tokens.float(), 4)
        loss = -(adv * torch.log_softmax(logits, -1)[tokens]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(torch.softmax(logits.detach(), -1)[1]) > 0.9
    # DPO: chosen token 1 over rejected token 0, reference = uniform. The step size is scaled by 1/β so the
    # first step moves the policy equally for every β; then the loss saturates once β·margin is a few units.
    ref = torch.log_softmax(torch.zeros(2), -1)
    for beta, low, high in ((0.5, 0.9, 1.0), (50.0, 0.5, 0.6)):
        logits = torch.zeros(2, requires_grad=True)
        opt = torch.optim.SGD([logits], lr=0.2 / beta)
        for _ in range(300):
            chosen, rejected = _bandit_logprob(logits, 1)[None], _bandit_logprob(logits, 0)[None]
            loss = dpo_loss(chosen, rejected, ref[1:2], ref[0:1], beta)
            opt.zero_grad()
            loss.backward()
            opt.step()
        p = float(torch.softmax(logits.detach(), -1)[1])
        # small β: the preferred token wins; large β: the policy stays near the reference (p ≈ 0.5)
        assert low < p <= high, (beta, p)


def test_online_dpo_weights_give_the_soft_label_dpo_gradient_on_each_groups_best_and_worst_answer():
    torch.manual_seed(0)
    k, beta = 4, 0.7
    scores = torch.tensor([0.1, 2.0, -1.0, 0.5, 3.0, 3.0, 1.0, -2.0, 1.0, 1.0, 1.0, 1.0])  # the last group: a tie
    logits = torch.randn(12, requires_grad=True)  # stands for each answer's summed log-probability
    reference = torch.randn(12)
    weights = online_dpo_advantages(scores, logits.detach(), reference, k, beta)
    (-(weights * logits).mean()).backward()
    surrogate = logits.grad.clone()
    logits.grad = None
    best, worst = torch.tensor([1, 4]), torch.tensor([2, 7])
    label = torch.sigmoid(scores[best] - scores[worst])  # the reward model's Bradley–Terry probability
    margin = beta * ((logits[best] - reference[best]) - (logits[worst] - reference[worst]))
    exact = -(label * F.logsigmoid(margin) + (1 - label) * F.logsigmoid(-margin)).sum() / 3
    exact.backward()  # the tied group is a pair with no gradient: the mean runs over all three groups
    assert torch.allclose(surrogate, logits.grad, atol=1e-6)
    assert torch.equal(weights.view(3, k)[2], torch.zeros(k))
    assert torch.allclose(weights.view(3, k).sum(dim=1), torch.zeros(3))
    # the first of two equal best scores is the chosen one
    assert float(weights[4]) != 0 and float(weights[5]) == 0
    # at the margin the reward model asks for (β·m = r_best − r_worst) the pair pulls no more
    policy = reference.clone()
    policy[1] += (scores[1] - scores[2]) / beta
    assert torch.allclose(online_dpo_advantages(scores, policy, reference, k, beta)[:4], torch.zeros(4), atol=1e-6)


def test_adaptive_kl_moves_beta_toward_the_target():
    kl = AdaptiveKL(0.1, target=6.0)
    kl.update(60.0)
    assert kl.beta > 0.1
    kl = AdaptiveKL(0.1, target=6.0)
    kl.update(0.5)
    assert kl.beta < 0.1
    fixed = AdaptiveKL(0.1, target=None)
    fixed.update(100.0)
    assert fixed.beta == 0.1


def test_distinct_2():
    assert distinct_2([[1, 2, 3, 4]]) == 1.0
    assert distinct_2([[1, 1, 1, 1]]) == pytest.approx(1 / 3)
