from __future__ import annotations

import torch

from genlab.video.glimpses import glimpses
from genlab.video.object_stream import ObjectGenerator, bounce


def test_bounce_reflects_off_both_edges_and_a_zero_room_stays_put():
    room = torch.tensor(10.0)
    u = torch.tensor([-1.0, 0.0, 5.0, 11.0, 25.0, 31.0])
    assert bounce(u, room).tolist() == [1.0, 0.0, 5.0, 9.0, 5.0, 9.0]
    assert bounce(u, torch.tensor(0.0)).tolist() == [0.0] * 6


def _generator(**kw) -> ObjectGenerator:
    torch.manual_seed(0)
    options = {"size": 8, "max_speed": 2.5, "dynamics": False, "background": False, **kw}
    return ObjectGenerator(8, 4, (1, 16, 32, 32), **options).eval()


def test_the_object_is_copied_whole_along_a_path_of_whole_pixels_inside_the_frame():
    g = _generator()
    z = torch.randn(3, 8)
    with torch.no_grad():
        clip, mask = g(z)
        path = g.path(z)
        still = g.objects(z)
    assert clip.shape == (3, 1, 16, 32, 32) and mask.shape == (3, 1, 16, 32, 32)
    assert torch.equal(path, path.round()) and path.min() >= 0 and path.max() <= 24
    assert (path[:, 1:] - path[:, :-1]).abs().max() <= 3  # at most max_speed, rounded
    for b in range(3):
        for t in range(16):
            r, c = (int(v) for v in path[b, t])
            inside = torch.zeros(32, 32, dtype=torch.bool)
            inside[r:r + 8, c:c + 8] = True
            assert torch.allclose(clip[b, 0, t, r:r + 8, c:c + 8], still[b, 0], atol=1e-5)
            # outside the window: no mask and a black ground (up to grid_sample's float rounding)
            assert mask[b, 0, t][~inside].max() < 1e-5 and (clip[b, 0, t][~inside] + 1).abs().max() < 1e-5


def test_motion_learns_through_the_rounding():
    g = _generator().train()
    clip, _ = g(torch.randn(4, 8))
    (clip * torch.linspace(-1, 1, 32)).sum().backward()
    assert g.motion.weight.grad is not None and g.motion.weight.grad.abs().sum() > 0


def test_dynamics_start_still_and_background_fills_what_the_mask_leaves():
    g = _generator(dynamics=True, background=True)
    z = torch.randn(2, 8)
    with torch.no_grad():
        clip, mask = g(z)
        path = g.path(z)
    r, c = (int(v) for v in path[0, 5])
    r0, c0 = (int(v) for v in path[0, 0])
    assert torch.allclose(mask[0, 0, 5, r:r + 8, c:c + 8], mask[0, 0, 0, r0:r0 + 8, c0:c0 + 8], atol=1e-6)
    outside = mask[0, 0, 5] < 1e-5
    assert not torch.all(clip[0, 0, 5][outside] == -1)  # the background stream, not black


def test_glimpses_cut_the_inkiest_window_and_pass_gradients_to_it():
    clips = -torch.ones(2, 1, 4, 16, 16)
    clips[0, 0, :, 3:11, 5:13] = 0.5
    clips[1, 0, :, 8:16, 0:8] = 1.0
    clips.requires_grad_(True)
    cut = glimpses(clips, 3, 8)
    assert cut.shape == (6, 1, 8, 8)
    assert torch.all(cut[:3] == 0.5) and torch.all(cut[3:] == 1.0)
    cut.sum().backward()
    grad = clips.grad
    assert grad[0, 0, :, 3:11, 5:13].sum() == 3 * 64 and grad.sum() == 6 * 64


def test_a_narrow_object_sits_in_the_middle_of_its_glimpse():
    clips = -torch.ones(1, 1, 2, 16, 16)
    clips[0, 0, :, 4:12, 6:10] = 1.0  # 8 rows, 4 columns: five 8×8 windows hold all of it
    cut = glimpses(clips, 2, 8)
    assert torch.all(cut[:, 0, :, 2:6] == 1.0)
    assert torch.all(cut[:, 0, :, :2] == -1) and torch.all(cut[:, 0, :, 6:] == -1)
