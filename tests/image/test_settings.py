"""Range checks of the generators' settings (``genlab.image.settings``): one table for every family's Config."""

from __future__ import annotations

import dataclasses
import math

import pytest

from genlab.audio.run import AUDIO
from genlab.errors import GenlabError
from genlab.image.run import IMAGE, build_model
from genlab.image.settings import check_settings
from genlab.image.trainer import ImageTrainConfig, new_run
from genlab.video.run import VIDEO

from .conftest import TINY

KINDS = (IMAGE, AUDIO, VIDEO)


def _config(family: str) -> type:
    kind = next(k for k in KINDS if family in k.families)
    return kind.family_class(family).Config


@pytest.mark.parametrize("family", [family for kind in KINDS for family in kind.families])
def test_every_default_is_in_range(family):
    """A field whose default the table refuses would make every run fail: the table and the configs agree."""
    config = _config(family)
    check_settings(config, dataclasses.asdict(config()), family)


@pytest.mark.parametrize(("family", "name", "value", "allowed"), [
    ("vae", "lr", math.nan, "finite number > 0"),
    ("vae", "lr", 0.0, "finite number > 0"),
    ("gan", "lr_g", -1e-3, "finite number > 0"),
    ("gan", "beta1", 5.0, "in [0, 1)"),
    ("gan", "ema", 1.0, "in [0, 1)"),
    ("gan", "label_smoothing", 1.0, "in [0, 1)"),
    ("flow", "dropout", 1.0, "in [0, 1)"),
    ("flow", "alpha", 0.5, "in [0, 0.5)"),
    ("flow", "clip", math.inf, "finite number ≥ 0"),
    ("autoencoder", "code_momentum", 0.0, "in (0, 1]"),
    ("diffusion", "timesteps", 0, "integer ≥ 1"),
    ("diffusion", "early_stop", -1, "integer ≥ 0"),
    ("wavegan", "gp_weight", math.nan, "finite number ≥ 0"),
    ("wavegan", "ema", 2.0, "in [0, 1)"),
    ("wavegan", "beta2", 1.0, "in [0, 1)"),
    ("vgan", "mask_l1", -0.1, "finite number ≥ 0"),
    ("specgan", "griffin_lim", -1, "integer ≥ 0"),
])
def test_out_of_range_values_name_the_field_and_its_range(family, name, value, allowed):
    with pytest.raises(GenlabError) as info:
        check_settings(_config(family), {name: value}, family)
    message = str(info.value)
    assert f"{family} setting {name}={value} is out of range" in message and allowed in message
    assert "\n" not in message


def test_zero_stays_allowed_where_it_means_off():
    check_settings(_config("gan"), {"label_smoothing": 0.0, "early_stop": 0, "beta1": 0.0}, "gan")
    check_settings(_config("wavegan"), {"spectral": 0.0, "phase_shuffle": 0, "gp_weight": 0.0}, "wavegan")
    check_settings(_config("flow"), {"clip": 0.0, "weight_decay": 0.0, "dropout": 0.0}, "flow")
    check_settings(_config("vae"), {"kl_warmup": 0}, "vae")
    check_settings(_config("specgan"), {"griffin_lim": 0, "standing": 0}, "specgan")  # 0: the random phase alone


@pytest.mark.parametrize(("settings", "message"), [({"lr": math.nan}, "vae setting lr=nan"),
                                                   ({"output": "best"}, "vae output 'best'")])
def test_a_bad_setting_is_refused_before_the_run_folder_is_written(tmp_path, digits, settings, message):
    run = tmp_path / "run"
    with pytest.raises(GenlabError, match=message):
        new_run(run, "vae", digits, {**TINY["vae"], **settings}, ImageTrainConfig(quiet=True, pictures=False))
    assert not run.exists()


def test_sampling_settings_are_checked_too(digits):
    from genlab.cli.image_cmd import apply_settings

    model = build_model("flow", TINY["flow"], digits.shape, digits.levels)
    with pytest.raises(GenlabError, match="temperature=nan"):
        apply_settings(model, ["temperature=nan"])
    assert apply_settings(model, ["temperature=0.5"]).config.temperature == 0.5
