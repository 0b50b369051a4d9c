from __future__ import annotations

import numpy as np
import pytest
import torch

from genlab.audio.metrics import inception_score
from genlab.audio.run import AUDIO
from genlab.audio.wavegan import Discriminator, Generator, WaveGAN, WaveGANConfig, phase_shuffle
from genlab.errors import GenlabError
from genlab.image.run import load_run
from genlab.image.trainer import ImageTrainConfig, new_run, train

from .conftest import TINY, check_trains_and_samples


def test_generator_makes_4x_longer_signals_per_layer_and_the_model_crops_to_the_clip():
    g = Generator(latent=8, width=2, length=8000)
    assert g.start == 32
    assert g(torch.randn(3, 8)).shape == (3, 1, 8192)
    d = Discriminator(width=2, length=8000, shuffle=2)
    assert d(torch.randn(3, 1, 8000)).shape == (3, 1)


def test_phase_shuffle_shifts_each_example_by_at_most_n_with_reflection():
    torch.manual_seed(0)
    x = torch.arange(20.0).repeat(6, 2, 1)  # (6, 2, 20)
    y = phase_shuffle(x, 2)
    assert y.shape == x.shape
    for row in y:
        k = int(row[0, 10] - 10)  # the middle is shifted by -k
        assert abs(k) <= 2 and torch.equal(row[0], row[1])
        assert torch.equal(row[0, 3:17], x[0, 0, 3 + k:17 + k])
    assert torch.equal(phase_shuffle(x, 0), x)


@pytest.mark.parametrize("loss", ["hinge", "wgan-gp"])
def test_a_few_steps_train_and_samples_have_the_right_shape_and_range(loss):
    torch.manual_seed(0)
    model = WaveGAN(WaveGANConfig(**{**TINY, "loss": loss}), (1, 8000), 65536)
    check_trains_and_samples(model, torch.rand(4, 1, 8000) * 2 - 1, 5)


def test_save_and_reload_give_identical_samples(tmp_path, tones):
    cfg = ImageTrainConfig(seed=0, quiet=True, pictures=True, max_steps=3)
    new_run(tmp_path, "wavegan", tones, TINY, cfg, kind=AUDIO)
    result = train(tmp_path, cfg, kind=AUDIO)
    assert result.steps == 3 and result.selection.startswith("Fréchet distance (classifier features)")
    assert (tmp_path / "samples.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "loss.png").is_file()
    a, _, config = load_run(tmp_path, kind=AUDIO)
    b, _, _ = load_run(tmp_path, kind=AUDIO)
    assert config["kind"] == "audio" and config["data"]["sample_rate"] == 8000
    assert torch.equal(a.sample(4, seed=7), b.sample(4, seed=7))


@pytest.mark.parametrize("conditional", [False, True])
def test_resume_continues_exactly(tmp_path, tones, conditional):
    settings = {**TINY, "conditional": conditional}
    straight, split = tmp_path / "straight", tmp_path / "split"
    for run, steps in ((straight, [4]), (split, [2, 4])):
        new_run(run, "wavegan", tones, settings, ImageTrainConfig(seed=1, quiet=True, pictures=False), kind=AUDIO)
        for n in steps:
            train(run, ImageTrainConfig(seed=1, quiet=True, pictures=False, max_steps=n), kind=AUDIO)
    a, _, config = load_run(straight, "latest", kind=AUDIO)
    b, _, _ = load_run(split, "latest", kind=AUDIO)
    assert a.conditional == conditional and config["model"]["classes"] == (3 if conditional else 0)  # from the data
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name


def test_an_image_run_is_not_an_audio_run(tmp_path, tones):
    from genlab.errors import GenlabError

    new_run(tmp_path, "wavegan", tones, TINY, ImageTrainConfig(quiet=True), kind=AUDIO)
    with pytest.raises(GenlabError, match="not an image run.*genlab audio"):
        load_run(tmp_path)


def test_inception_score_is_1_for_one_class_and_k_for_k_confident_balanced_classes():
    assert inception_score(np.tile([[1.0, 0, 0]], (6, 1))) == pytest.approx(1.0)
    assert inception_score(np.full((6, 3), 1 / 3)) == pytest.approx(1.0)
    assert inception_score(np.eye(4)[[0, 1, 2, 3, 0, 1, 2, 3]]) == pytest.approx(4.0, rel=1e-6)


def test_the_judge_hears_the_tones_and_real_clips_score_high(tones):
    from genlab.audio.classifier import train_classifier
    from genlab.audio.metrics import evaluate_model

    judge = train_classifier(tones, epochs=60)
    assert judge.accuracy >= 0.8
    torch.manual_seed(0)
    model = WaveGAN(WaveGANConfig(**TINY), (1, 8000), 65536)
    report = evaluate_model(model, judge, tones, num=len(tones.images["test"]))
    assert report.real.inception_score > 1.5 and report.real.inception_score > report.generated.inception_score + 0.3
    assert report.generated.frechet > report.real.frechet
    assert any(line.startswith("inception score") and "real" in line for line in report.lines())


def test_the_spectral_critic_trains_with_the_waveform_critic():
    torch.manual_seed(0)
    model = WaveGAN(WaveGANConfig(**{**TINY, "spectral": 1.0}), (1, 8000), 65536)
    assert model.spectral is not None and model.spectral(torch.zeros(3, 1, 8000)).shape == (3, 1)
    opts = model.configure_optimizers()
    weights = [p for p in model.spectral.parameters() if p.dim() > 1]
    before = [p.clone() for p in weights]
    values = model.training_step(torch.rand(4, 1, 8000) * 2 - 1, opts)
    assert all(np.isfinite(v) for v in values.values())
    # every weight moved (the head's bias may not: hinge gradients of real and fake cancel on it at first)
    assert all(not torch.equal(a, b) for a, b in zip(before, weights))
    with pytest.raises(GenlabError, match="spectral weight"):
        WaveGAN(WaveGANConfig(**{**TINY, "spectral": -1.0}), (1, 8000), 65536)


def test_a_conditional_wavegan_says_the_word_it_is_asked_for():
    torch.manual_seed(0)
    model = WaveGAN(WaveGANConfig(**{**TINY, "conditional": True, "classes": 3, "spectral": 0.5}), (1, 8000), 65536)
    opts = model.configure_optimizers()
    x = torch.rand(4, 1, 8000) * 2 - 1
    values = model.training_step(x, opts, labels=torch.tensor([0, 1, 2, 0]))
    assert all(np.isfinite(v) for v in values.values())
    with pytest.raises(GenlabError, match="labelled clips"):
        model.training_step(x, opts)
    turns = model.sample(6, seed=1)  # words in turn: 0, 1, 2, 0, 1, 2
    ones = model.sample(6, seed=1, labels=torch.ones(6, dtype=torch.long))
    assert turns.shape == ones.shape == (6, 1, 8000)
    assert torch.equal(turns[1], ones[1]) and torch.equal(turns[4], ones[4])  # same z, same word
    assert not torch.equal(turns[0], ones[0])  # same z, another word
    with pytest.raises(GenlabError, match="at least two words"):
        WaveGAN(WaveGANConfig(**{**TINY, "conditional": True}), (1, 8000), 65536)
    with pytest.raises(GenlabError, match="unconditional"):
        WaveGAN(WaveGANConfig(**TINY), (1, 8000), 65536).sample(2, labels=torch.zeros(2, dtype=torch.long))


def test_conditional_needs_labelled_clips(tmp_path, tones):
    from genlab.audio.data import from_clips

    unlabelled = from_clips("flat", tones.images["train"][:, 0], None, [])
    with pytest.raises(GenlabError, match="at least two words"):
        new_run(tmp_path, "wavegan", unlabelled, {**TINY, "conditional": True}, ImageTrainConfig(quiet=True),
                kind=AUDIO)
