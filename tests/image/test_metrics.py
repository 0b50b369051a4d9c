from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from genlab.image.metrics import (
    baselines,
    bits_per_dim,
    frechet_distance,
    knn_precision_recall,
    memorisation_ratio,
    score_samples,
)


def _scipy_fid(a: np.ndarray, b: np.ndarray) -> float:
    """The textbook formula with a general matrix square root (an independent implementation)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(ca @ cb).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(ca + cb - 2 * root))


def test_frechet_distance_matches_scipy_sqrtm():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6))
    b = rng.normal(loc=0.5, size=(300, 6)) @ rng.normal(size=(6, 6))
    assert frechet_distance(a, b) == pytest.approx(_scipy_fid(a, b), rel=1e-6)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_of_shifted_gaussians_is_the_squared_shift():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(20000, 3))
    assert frechet_distance(a, a + np.array([3.0, 0.0, 4.0])) == pytest.approx(25.0, rel=1e-6)


def test_knn_precision_recall_extremes():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(200, 4))
    assert knn_precision_recall(real, real) == (1.0, 1.0)
    far = real + 100.0
    assert knn_precision_recall(real, far) == (0.0, 0.0)
    # samples collapsed onto a few real points: high precision, low recall (mode collapse)
    collapsed = np.repeat(real[:3], 70, axis=0) + 1e-6 * rng.normal(size=(210, 4))
    precision, recall = knn_precision_recall(real, collapsed)
    assert precision == 1.0 and recall < 0.1


def test_memorisation_ratio_is_zero_for_copies_and_near_one_for_fresh_images(digits):
    train, test = digits.tensor("train"), digits.tensor("test")
    assert memorisation_ratio(train[:100], train, test) == 0.0
    assert 0.8 < memorisation_ratio(digits.tensor("val"), train, test) < 1.25


def test_bits_per_dim_of_a_uniform_model_is_log2_of_the_levels():
    dims, levels = 64, 17
    assert bits_per_dim(dims * np.log(levels), dims) == pytest.approx(np.log2(levels))


def test_judge_reads_digits_and_digits_fid_separates_real_from_noise(digits, judge):
    assert judge.accuracy > 0.93
    b = baselines(judge, digits, n=digits.count("test"))
    assert b.real_fid < 1.0, "real vs real held-out digits should be near 0"
    assert b.noise_fid > 20 * max(b.real_fid, 0.05), "uniform noise should be far away"
    real = score_samples(judge, digits, torch.cat([digits.tensor("train"), digits.tensor("val")])[-539:])
    assert real.modes_covered == 10 and real.confidence > 0.9 and real.class_tv < 0.15
    noise = score_samples(judge, digits, torch.rand(539, 1, 8, 8, generator=torch.Generator().manual_seed(0)))
    assert noise.fid > 10 * real.fid and noise.precision < 0.2 and noise.memorisation > 2


def test_judge_is_cached_in_the_run_and_reused(tmp_path, digits):
    from genlab.image.classifier import CLASSIFIER_FILE, load_or_train

    first = load_or_train(tmp_path, digits)
    assert (tmp_path / CLASSIFIER_FILE).is_file()
    again = load_or_train(tmp_path, digits)
    x = digits.tensor("test")[:32]
    assert np.array_equal(first.features(x), again.features(x))
    assert again.accuracy == first.accuracy


def test_unlabelled_data_falls_back_to_pca_features(digits):
    from genlab.image.classifier import train_classifier
    from genlab.image.data import ImageData

    unlabelled = ImageData(source="x", levels=17, images=digits.images)
    pca = train_classifier(unlabelled)
    assert pca.kind == "pca" and pca.fid_name == "PCA FID" and pca.probs(digits.tensor("test")) is None
    assert pca.features(digits.tensor("test")).shape == (539, 32)
