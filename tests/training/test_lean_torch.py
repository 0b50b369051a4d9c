"""Training without --compile never imports torch's compiler, and its AdamW steps are PyTorch's own."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from genlab.training.lean_torch import AdamW


@pytest.mark.parametrize("fused", [True, False])
def test_adamw_steps_exactly_as_pytorchs(fused):
    torch.manual_seed(0)
    ours = [torch.nn.Parameter(torch.randn(5, 3)), torch.nn.Parameter(torch.randn(3))]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    kwargs = dict(lr=0.01, weight_decay=0.1, fused=fused or None, foreach=None if fused else True)
    a, b = AdamW(ours, **kwargs), torch.optim.AdamW(theirs, **kwargs)
    for _ in range(4):
        for p, q in zip(ours, theirs):
            p.grad = torch.randn_like(p)
            q.grad = p.grad.clone()
        a.step()
        b.step()
    for p, q in zip(ours, theirs):
        assert torch.equal(p, q)
    assert torch.is_grad_enabled()  # the step left autograd as it found it


SCRIPT = """
import sys, torch
from genlab.training.lean_torch import skip_compiler_import
from genlab.models.gpt import GPT, GPTConfig
from genlab.training.optim import build_optimizer
assert skip_compiler_import() > 0
for kind in ("adamw", "muon"):
    model = GPT(GPTConfig(vocab_size=13, n_layer=1, n_head=1, n_embd=8, block_size=8))
    opt = build_optimizer(model, 1e-3, 0.1, (0.9, 0.95), "cpu", kind)
    model(torch.randint(0, 13, (2, 8))).sum().backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    opt.zero_grad()
    opt.load_state_dict(opt.state_dict())
print("torch._dynamo" in sys.modules)
"""


def test_a_training_step_does_not_load_the_compiler():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
