"""FID: closed forms, the streamed float64 statistics, and agreement with pytorch-fid (scipy sqrtm)
and torch-fidelity (complex eigvals) on the same statistics."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from gan_cli.errors import GanError
from gan_cli.metrics import fid as fid_mod
from gan_cli.metrics.fid import (
    MeanCovariance,
    frechet_distance,
    load_stats,
    save_stats,
    statistics,
    trace_sqrt_product,
    warn_if_few,
)


def random_cov(d: int, n: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)) @ np.random.default_rng(seed + 1).standard_normal((d, d))
    return np.cov(x, rowvar=False)


def test_equal_covariances_give_the_squared_mean_difference():
    rng = np.random.default_rng(0)
    for sigma in (random_cov(64, 500, 1), random_cov(64, 20, 2)):  # full rank and rank-deficient
        mu1, mu2 = rng.standard_normal(64), rng.standard_normal(64)
        expected = float(((mu1 - mu2) ** 2).sum())
        assert frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(expected, abs=1e-10 * np.trace(sigma))


def test_identical_statistics_give_zero():
    sigma = random_cov(32, 200, 3)
    mu = np.arange(32.0)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-10 * np.trace(sigma)


def test_diagonal_covariances():
    rng = np.random.default_rng(4)
    a, b = rng.uniform(0.1, 3, 16), rng.uniform(0.1, 3, 16)
    mu1, mu2 = rng.standard_normal(16), rng.standard_normal(16)
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-13)


def test_one_dimension_by_hand():
    # N(0, 4) vs N(3, 1): 9 + 4 + 1 - 2 * sqrt(4) = 10
    assert frechet_distance([0.0], [[4.0]], [3.0], [[1.0]]) == pytest.approx(10.0, rel=1e-15)


def via_eigh_square_root(s1, s2):
    """METRICS.md's formulation: sum sqrt(eigvalsh(R S2 R)), R = S1^(1/2) from eigh."""
    w, v = np.linalg.eigh(s1)
    root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    return np.sqrt(np.clip(np.linalg.eigvalsh(root @ s2 @ root), 0, None)).sum()


@pytest.mark.parametrize("n1, n2", [(300, 300), (300, 20), (20, 300), (20, 30)])  # full rank and singular
def test_nuclear_norm_equals_the_eigh_square_root_formulation(n1, n2):
    s1, s2 = random_cov(48, n1, 5), random_cov(48, n2, 6)
    assert trace_sqrt_product(s1, s2) == pytest.approx(via_eigh_square_root(s1, s2), rel=1e-6 if min(n1, n2) < 48 else 1e-12)
    assert trace_sqrt_product(s1, s2) == pytest.approx(trace_sqrt_product(s2, s1), rel=1e-12)  # tr sqrt(AB) = tr sqrt(BA)


@pytest.mark.filterwarnings("ignore:The `disp` argument:DeprecationWarning")
@pytest.mark.parametrize("n", [500, 30])  # N > d (sqrtm's regime), and the rank-deficient N < d
def test_agrees_with_pytorch_fid_and_torch_fidelity(n):
    pytorch_fid = pytest.importorskip("pytorch_fid.fid_score")
    torch_fidelity = pytest.importorskip("torch_fidelity.metric_fid")
    rng = np.random.default_rng(n)
    f1, f2 = rng.standard_normal((n, 64)), rng.standard_normal((n, 64)) * 1.3 + 0.2
    (mu1, s1), (mu2, s2) = statistics(f1), statistics(f2)
    ours = frechet_distance(mu1, s1, mu2, s2)
    theirs = torch_fidelity.fid_statistics_to_metric({"mu": mu1, "sigma": s1}, {"mu": mu2, "sigma": s2}, False)
    assert ours == pytest.approx(theirs["frechet_inception_distance"], rel=1e-12 if n > 64 else 1e-6)
    if n > 64:  # sqrtm of a singular product is unreliable: pytorch-fid itself warns there
        try:
            reference = pytorch_fid.calculate_frechet_distance(mu1, s1, mu2, s2)
        except TypeError:  # SciPy >= 1.18 removed sqrtm's `disp`, which pytorch-fid 0.3.0 passes
            pytest.skip("pytorch-fid 0.3.0 is incompatible with this SciPy")
        assert ours == pytest.approx(reference, rel=1e-12)


# ----------------------------------------------------------------------------- statistics
def test_streamed_statistics_equal_numpy_float64():
    x = np.random.default_rng(7).standard_normal((1000, 24)) * 3 + 5
    acc = MeanCovariance()
    for part in np.array_split(x, [1, 7, 300, 301, 999]):  # uneven batches, one of a single row
        acc.update(torch.from_numpy(part).float())
    mu, sigma = acc.result()
    x32 = x.astype(np.float32).astype(np.float64)  # what the float32 batches held
    assert mu.dtype == np.float64 and sigma.dtype == np.float64
    np.testing.assert_allclose(mu, x32.mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(x32, rowvar=False, ddof=1), rtol=1e-10, atol=1e-12)
    assert np.array_equal(sigma, sigma.T)


def test_streaming_is_stable_with_a_large_offset():
    """E[xx^T] - mu mu^T in float64 would lose ~8 digits here; the pairwise update does not."""
    x = 1e4 + np.random.default_rng(8).standard_normal((4000, 4)) * 1e-2
    acc = MeanCovariance()
    for part in np.array_split(x, 13):
        acc.update(torch.from_numpy(part))
    np.testing.assert_allclose(acc.result()[1], np.cov(x, rowvar=False), rtol=1e-9, atol=1e-13)  # entries ~1e-4


def test_too_few_samples_and_mismatched_statistics_are_clear_errors():
    acc = MeanCovariance()
    acc.update(torch.zeros(1, 3))
    with pytest.raises(GanError, match="at least 2 samples"):
        acc.result()
    with pytest.raises(GanError, match="same feature extractor"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def test_warns_below_2048_samples(caplog):
    with caplog.at_level(logging.WARNING, logger="gan"):
        warn_if_few(1000, 2048)
        warn_if_few(5000, 256)
    assert len(caplog.records) == 1 and "1000 samples" in caplog.records[0].getMessage()
    assert fid_mod.MIN_SAMPLES == 2048


def test_statistics_files_in_pytorch_fid_format(tmp_path):
    mu, sigma = np.arange(3.0), np.eye(3)
    save_stats(tmp_path / "s.npz", mu, sigma, n=np.int64(7))
    with np.load(tmp_path / "s.npz") as f:  # what pytorch-fid reads
        assert np.array_equal(f["mu"], mu) and np.array_equal(f["sigma"], sigma)
    assert int(load_stats(tmp_path / "s.npz")["n"]) == 7
    np.savez(tmp_path / "bad.npz", m=mu)
    with pytest.raises(GanError, match="'mu' and 'sigma'"):
        load_stats(tmp_path / "bad.npz")


@pytest.mark.slow
def test_trace_sqrt_against_a_40_digit_reference():
    """On an ill-conditioned pair (cond ~1e6) ours is within a few ulps of the exact value."""
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 40
    rng = np.random.default_rng(0)
    d, n = 60, 80
    mix = rng.standard_normal((d, d)) / np.sqrt(d)
    (_, s1), (_, s2) = statistics(rng.standard_normal((n, d)) @ mix), statistics(rng.standard_normal((n, d)) @ mix)
    factor = mp.cholesky(mp.matrix(s1.tolist()))
    middle = factor.T * mp.matrix(s2.tolist()) * factor
    exact = sum(mp.sqrt(e) for e in mp.eigsy((middle + middle.T) / 2, eigvals_only=True))
    assert abs(float((mp.mpf(trace_sqrt_product(s1, s2)) - exact) / exact)) < 1e-14
