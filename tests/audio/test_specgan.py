from __future__ import annotations

import pytest
import torch

from genlab.audio.run import AUDIO
from genlab.audio.specgan import BINS, SpecGAN, SpecGANConfig
from genlab.errors import GenlabError
from genlab.image.run import load_run
from genlab.image.trainer import ImageTrainConfig, new_run, train

from .conftest import check_trains_and_samples

#: the smallest SpecGAN that still runs every layer
TINY = {"latent": 8, "g_width": 4, "d_width": 4, "window": 16, "batch_size": 8, "eval_interval": 3,
        "griffin_lim": 2}


def tone(start: int, hz: float = 500.0, length: int = 1600) -> torch.Tensor:
    t = torch.arange(length) / 8000
    clip = torch.zeros(8000)
    clip[start:start + length] = 0.5 * torch.sin(2 * torch.pi * hz * t) * torch.hann_window(length)
    return clip


def model(**settings) -> SpecGAN:
    torch.manual_seed(0)
    return SpecGAN(SpecGANConfig(**{**TINY, "conditional": False, **settings}), (1, 8000), 65536)


def test_crops_follow_the_word_wherever_it_is_said():
    m = model()
    early, late = tone(400), tone(5000)  # 0.05 s and 0.625 s in
    power = m.log_power(torch.stack([early, late])[:, None])
    assert power.shape == (2, BINS, 63)
    starts = m.word_starts(power)
    centres = [(400 + 800) / 128, (5000 + 800) / 128]  # the tones' middles, in frames
    assert [abs(int(s) + 8 - c) <= 1.5 for s, c in zip(starts, centres)] == [True, True]
    crops = m.crops(torch.stack([early, late])[:, None])
    assert crops.shape == (2, BINS, 16) and crops.min() >= -1 and crops.max() <= 1
    # the same word at another time gives (nearly) the same crop
    assert (crops[0] - crops[1]).abs().mean() < 0.05
    assert m.starts.sum() == 2  # counted while training


def test_the_statistics_are_measured_once_on_the_first_batch_and_saved():
    m = model()
    x = torch.stack([tone(400 * i) for i in range(1, 5)])[:, None] + 0.001 * torch.randn(4, 1, 8000)
    m.crops(x)
    mean = m.mean.clone()
    assert bool(m.measured) and not torch.equal(mean, torch.full_like(mean, -10.0))
    m.crops(x * 0.1)  # a quieter batch leaves them alone
    assert torch.equal(m.mean, mean)
    assert {"mean", "spread", "floor", "measured", "starts"} <= set(m.state_dict())


def test_spectra_are_clipped_at_spread_clip_spreads_of_their_bin():
    loud = torch.tensor([[2.0, 3.5, 5.0]])[None]  # spreads above the bin's mean
    m, old_clip = model(), model(spread_clip=3.0)
    power = m.mean + loud * m.spread
    kept = m.normalise(power)  # default: ±4 spreads
    assert torch.allclose(kept, torch.tensor([[[0.5, 0.875, 1.0]]]))
    old = old_clip.normalise(power)
    assert torch.allclose(old, torch.tensor([[[2 / 3, 1.0, 1.0]]]))


def test_augment_shifts_and_masks_to_the_floor_and_can_be_switched_off():
    m = model()
    m.floor.fill_(-0.5)
    crops = torch.rand(64, BINS, 16)
    torch.manual_seed(1)
    out = m.augment(crops)
    assert out.shape == crops.shape
    assert (out == -0.5).any()  # some band or run masked
    assert not torch.equal(out, crops)
    assert torch.equal(model(augment=False).augment(crops), crops)


def test_placed_crops_sit_on_the_floor_at_a_start_the_real_clips_used():
    m = model()
    m.floor.fill_(-0.7)
    m.starts.zero_()
    m.starts[5] = 3.0  # every real word started at frame 5
    crops = torch.full((2, BINS, 16), 0.25)
    placed = m.place(crops, torch.Generator().manual_seed(0))
    assert placed.shape == (2, BINS, 63)
    assert torch.all(placed[:, :, 5:21] == 0.25)
    assert torch.all(placed[:, :, :5] == -0.7) and torch.all(placed[:, :, 21:] == -0.7)
    put = m.put(crops, torch.tensor([0, 40]))  # starts given, not drawn
    assert torch.all(put[0, :, :16] == 0.25) and torch.all(put[0, :, 16:] == -0.7)
    assert torch.all(put[1, :, 40:56] == 0.25) and torch.all(put[1, :, :40] == -0.7)


def test_griffin_lim_finds_a_phase_that_fits_the_magnitude():
    clip = tone(2000)[None, None]
    m0, m8 = model(griffin_lim=0), model(griffin_lim=8)
    for m in (m0, m8):
        m.mean.zero_()
        m.spread.fill_(1.0)
    target = m0.log_power(clip)
    errors = []
    for m in (m0, m8):
        normal = (target / 3).clamp(-1, 1)  # the normalisation is the identity here, up to the clip at ±3
        sound = m.to_sound(normal, torch.Generator().manual_seed(0))
        errors.append(float((m.log_power(sound) - target.clamp(-3, 3)).clamp(min=-3).abs().mean()))
    assert errors[1] < errors[0]


def test_a_few_steps_train_and_samples_have_the_right_shape_range_and_seed():
    m = model()
    check_trains_and_samples(m, torch.stack([tone(300 * i) for i in range(1, 9)])[:, None], 3)
    with pytest.raises(GenlabError, match="unconditional"):
        m.sample(2, labels=torch.tensor([0, 1]))


@pytest.mark.parametrize("settings, message", [
    ({"window": 24}, "multiple of 16"), ({"window": 80}, "at most the clip"), ({"d_width": 6}, "multiple of 4"),
    ({"conditional": True}, "at least two words"), ({"griffin_lim": -1}, "griffin_lim"),
    ({"standing": -2}, "standing ≥ 0"), ({"spread_clip": 0.0}, "spread_clip > 0"),
])
def test_bad_settings_are_refused(settings, message):
    with pytest.raises(GenlabError, match=message):
        SpecGAN(SpecGANConfig(**{**TINY, "conditional": False, **settings}), (1, 8000), 65536)


def test_conditional_by_default_on_words_and_resume_continues_exactly(tmp_path, tones):
    straight, split = tmp_path / "straight", tmp_path / "split"
    settings = {k: v for k, v in TINY.items()}  # conditional is the default: the classes come from the data
    for run, steps in ((straight, [4]), (split, [2, 4])):
        new_run(run, "specgan", tones, settings, ImageTrainConfig(seed=1, quiet=True, pictures=False), kind=AUDIO)
        for n in steps:
            train(run, ImageTrainConfig(seed=1, quiet=True, pictures=False, max_steps=n), kind=AUDIO)
    a, _, config = load_run(straight, "latest", kind=AUDIO)
    b, _, _ = load_run(split, "latest", kind=AUDIO)
    assert a.conditional and config["model"]["classes"] == 3
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name
    assert torch.equal(a.sample(4, seed=3), b.sample(4, seed=3))
    said = a.sample(2, seed=3, labels=torch.tensor([1, 1]))
    assert not torch.equal(said, a.sample(2, seed=3, labels=torch.tensor([2, 2])))


def test_unlabelled_clips_need_conditional_false(tmp_path):
    from genlab.audio.data import from_clips

    from .conftest import tone_clips

    clips, _ = tone_clips()
    flat = from_clips("flat", clips, None, [])
    with pytest.raises(GenlabError, match="conditional=false"):
        new_run(tmp_path / "a", "specgan", flat, dict(TINY), ImageTrainConfig(seed=0, quiet=True), kind=AUDIO)
    assert not (tmp_path / "a").exists()  # nothing half-made
    new_run(tmp_path / "b", "specgan", flat, {**TINY, "conditional": False},
            ImageTrainConfig(seed=0, quiet=True, pictures=False), kind=AUDIO)
    assert train(tmp_path / "b", ImageTrainConfig(seed=0, quiet=True, pictures=False, max_steps=2),
                 kind=AUDIO).steps == 2


def test_word_norm_gives_each_word_its_own_scale_and_shift_in_every_layer():
    from genlab.audio.specgan import WordNorm

    m = model(conditional=True, classes=3)
    norms = [layer for layer in m.generator.body if isinstance(layer, WordNorm)]
    assert len(norms) == 3 and all(n.scale is not None and n.weight is None for n in norms)
    m.generator.eval()
    z = torch.randn(4, 8)
    words = torch.tensor([0, 1, 2, 1])
    before = m.generator(z, words)
    with torch.no_grad():
        norms[1].shift.weight[1] += 1.0  # only word 1 changes
    after = m.generator(z, words)
    changed = (after - before).abs().flatten(1).amax(1) > 1e-6
    assert changed.tolist() == [False, True, False, True]
    plain = model(conditional=True, classes=3, word_norm=False)
    assert all(layer.scale is None and layer.weight is not None
               for layer in plain.generator.body if isinstance(layer, WordNorm))


def test_the_critic_is_spectrally_normalised_or_not_as_set():
    m = model(d_width=8)
    m.critic.train()
    for _ in range(30):  # power iteration: one step per training forward
        m.critic(torch.randn(2, BINS, 16))
    layers = [layer for layer in m.critic.body if isinstance(layer, torch.nn.Conv2d)] + [m.critic.head]
    sigmas = [float(torch.linalg.matrix_norm(layer.weight.detach().flatten(1), 2)) for layer in layers]
    assert all(abs(s - 1) < 0.05 for s in sigmas), sigmas
    free = model(d_width=8, spectral_norm=False)
    assert not hasattr(free.critic.head, "parametrizations")


def test_samples_use_standing_statistics_measured_for_the_averaged_weights():
    m = model()
    opts = m.configure_optimizers()
    x = torch.stack([tone(300 * i) for i in range(1, 9)])[:, None]
    for _ in range(3):
        m.training_step(x, opts)
    live_mean = m.ema.net.body[0].running_mean.clone()
    standing = m.ema.standing(m._feed)
    assert not standing.training and standing is not m.ema.net
    assert torch.equal(m.ema.net.body[0].running_mean, live_mean)  # the average itself is untouched
    assert not torch.allclose(standing.body[0].running_mean, live_mean)
    assert torch.equal(standing.body[0].running_mean, m.ema.standing(m._feed).body[0].running_mean)
    clips = m.sample(3, seed=1)
    assert torch.equal(clips, m.sample(3, seed=1))
    m.config.standing = 0
    assert not torch.equal(clips, m.sample(3, seed=1))  # the live statistics draw other clips


def test_a_run_saved_before_word_norm_spectral_norm_standing_and_spread_clip_loads_as_it_was_trained(
        tmp_path, tones):
    import json

    cfg = ImageTrainConfig(seed=0, quiet=True, pictures=False, max_steps=2)
    old = {"word_norm": False, "spectral_norm": False, "standing": 0, "spread_clip": 3.0}
    new_run(tmp_path, "specgan", tones, {**TINY, **old}, cfg, kind=AUDIO)
    train(tmp_path, cfg, kind=AUDIO)
    before, _, _ = load_run(tmp_path, kind=AUDIO)
    config = json.loads((tmp_path / "config.json").read_text())
    for key in old:  # what an older genlab wrote lacks these
        del config["model"][key]
    (tmp_path / "config.json").write_text(json.dumps(config))
    after, _, _ = load_run(tmp_path, kind=AUDIO)
    assert {key: getattr(after.config, key) for key in old} == old
    assert torch.equal(before.sample(2, seed=1), after.sample(2, seed=1))
