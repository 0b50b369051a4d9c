from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.errors import GenlabError
from genlab.image.run import load_run
from genlab.image.trainer import ImageTrainConfig, new_run, train
from genlab.video.plots import gif_bytes
from genlab.video.run import VIDEO
from genlab.video.vgan import VGAN, VGANConfig

from .conftest import TINY


def test_volume_streams_combine_through_the_mask():
    torch.manual_seed(0)
    model = VGAN(VGANConfig(**TINY, generator="volume"), (1, 16, 32, 32), 17)
    model.eval()
    clip, mask = model.generator(torch.randn(2, 8))
    assert clip.shape == (2, 1, 16, 32, 32) and mask.shape == (2, 1, 16, 32, 32)
    assert mask.min() > 0 and mask.max() < 1 and clip.abs().max() <= 1


@pytest.mark.parametrize("options", [{}, {"generator": "volume"}, {"dynamics": True, "background": True},
                                     {"object_d": False}, {"object_steps": 0}])
def test_a_few_steps_train_and_samples_have_the_right_shape_and_range(options):
    torch.manual_seed(0)
    model = VGAN(VGANConfig(**TINY, **options), (1, 16, 32, 32), 17)
    opts = model.configure_optimizers()
    x = torch.rand(4, 1, 16, 32, 32)
    for _ in range(2):
        values = model.training_step(x, opts)
        assert all(np.isfinite(v) for v in values.values()) and 0 < values["mask"] < 1
    clips = model.sample(3, seed=1)
    assert clips.shape == (3, 1, 16, 32, 32) and clips.min() >= 0 and clips.max() <= 1
    assert torch.equal(clips, model.sample(3, seed=1))


def test_shapes_that_do_not_halve_three_times_are_refused():
    with pytest.raises(GenlabError, match="multiples of 8"):
        VGAN(VGANConfig(**TINY), (1, 12, 32, 32), 17)


@pytest.mark.parametrize(("options", "message"), [
    ({"generator": "film"}, "generator=film is not one of object, volume"),
    ({"object_size": 12}, r"object_size=12 must be one of \[8, 16\]"),
    ({"object_size": 32}, r"object_size=32 must be one of \[8, 16\]"),
])
def test_bad_generator_settings_are_refused(options, message):
    with pytest.raises(GenlabError, match=message):
        VGAN(VGANConfig(**TINY, **options), (1, 16, 16, 24), 17)


def test_gif_grid_reopens_with_pillow_frame_by_frame():
    clips = torch.rand(4, 1, 16, 8, 8)
    with Image.open(io.BytesIO(gif_bytes(clips, scale=1))) as im:
        assert im.format == "GIF" and im.n_frames == 16
        im.seek(5)
        frame = np.asarray(im.convert("L"))
    assert frame.shape == (19, 19)  # 2×2 grid of 8×8 with a 1-pixel gutter


def test_train_save_reload_identical_samples_and_pictures(tmp_path, clips):
    cfg = ImageTrainConfig(seed=0, quiet=True, max_steps=3)
    new_run(tmp_path, "vgan", clips, TINY, cfg, kind=VIDEO)
    result = train(tmp_path, cfg, kind=VIDEO)
    assert result.steps == 3 and "per-frame digits FID" in result.selection
    with Image.open(tmp_path / "samples.gif") as im:
        assert im.n_frames == 16
    assert (tmp_path / "samples.png").read_bytes()[:4] == b"\x89PNG"
    a, data, _ = load_run(tmp_path, kind=VIDEO)
    b, _, _ = load_run(tmp_path, kind=VIDEO)
    assert data.frames == 16 and torch.equal(a.sample(3, seed=4), b.sample(3, seed=4))


def test_eval_reports_fid_consistency_and_motion_next_to_real_clips(tmp_path, clips):
    from genlab.video.classifier import load_or_train
    from genlab.video.metrics import evaluate_model

    torch.manual_seed(0)
    model = VGAN(VGANConfig(**TINY), (1, 16, 32, 32), 17)
    judge = load_or_train(tmp_path, clips)
    assert (tmp_path / "classifier.safetensors").is_file()
    report = evaluate_model(model, judge, clips, num=clips.count("test"))
    assert report.real.motion > 0.5 and report.generated.fid > report.real.fid
    assert 0 <= report.generated.consistency <= 1
    text = "\n".join(report.lines())
    assert "per-frame digits FID" in text and "temporal consistency" in text and "motion" in text
    cached = load_or_train(tmp_path, clips)
    assert np.allclose(cached.features(clips.tensor("test")), judge.features(clips.tensor("test")))


def test_a_run_saved_before_the_object_generator_loads_as_it_was_trained(tmp_path, clips):
    import json

    from genlab.video.vgan import VolumeGenerator

    cfg = ImageTrainConfig(seed=0, quiet=True, max_steps=2)
    new_run(tmp_path, "vgan", clips, {**TINY, "generator": "volume", "object_d": False}, cfg, kind=VIDEO)
    train(tmp_path, cfg, kind=VIDEO)
    before, _, _ = load_run(tmp_path, kind=VIDEO)
    config = json.loads((tmp_path / "config.json").read_text())
    for key in ("generator", "object_size", "max_speed", "dynamics", "background", "object_d", "object_width",
                "glimpses", "object_steps", "object_batch"):  # what an older genlab wrote lacks these
        del config["model"][key]
    (tmp_path / "config.json").write_text(json.dumps(config))
    after, _, _ = load_run(tmp_path, kind=VIDEO)
    assert isinstance(after.generator, VolumeGenerator) and after.object_discriminator is None
    assert torch.equal(before.sample(2, seed=1), after.sample(2, seed=1))


def test_resume_continues_exactly_where_training_stopped(tmp_path, clips):
    from genlab.checkpoint import load_tensors

    def cfg(steps: int) -> ImageTrainConfig:
        return ImageTrainConfig(seed=1, quiet=True, pictures=False, max_steps=steps)

    straight, split = tmp_path / "straight", tmp_path / "split"
    settings = {**TINY, "eval_interval": 100}
    new_run(straight, "vgan", clips, settings, cfg(4), kind=VIDEO)
    train(straight, cfg(4), kind=VIDEO)
    new_run(split, "vgan", clips, settings, cfg(2), kind=VIDEO)
    train(split, cfg(2), kind=VIDEO)
    assert train(split, cfg(4), kind=VIDEO).steps == 4
    a, b = load_tensors(straight / "model.safetensors"), load_tensors(split / "model.safetensors")
    assert a.keys() == b.keys() and any("object_discriminator" in k for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key
