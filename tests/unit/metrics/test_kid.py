"""KID against a direct float64 computation and torch-fidelity's; the N < subset size error."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gan_cli.errors import GanError
from gan_cli.metrics.kid import kernel_inception_distance, mmd2_unbiased


def direct_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """The unbiased estimator written out pair by pair (float64)."""
    d, m = x.shape[1], len(x)
    k = lambda a, b: (a @ b / d + 1) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    return (xx + yy) / (m * (m - 1)) - 2 * xy / m**2


def test_mmd2_equals_the_direct_sum():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((12, 5)), rng.standard_normal((12, 5)) + 0.5
    assert mmd2_unbiased(torch.from_numpy(x), torch.from_numpy(y)) == pytest.approx(direct_mmd2(x, y), rel=1e-12)


def test_kid_draws_subsets_as_torch_fidelity_does():
    rng = np.random.default_rng(1)
    f1, f2 = rng.standard_normal((60, 8)), rng.standard_normal((50, 8)) * 1.2
    mean, std = kernel_inception_distance(f1, f2, subsets=7, subset_size=20)
    draws = np.random.RandomState(2020)
    values = []
    for _ in range(7):
        i1 = draws.choice(60, 20, replace=False)
        i2 = draws.choice(50, 20, replace=False)
        values.append(direct_mmd2(f1[i1], f2[i2]))
    assert mean == pytest.approx(np.mean(values), rel=1e-12)
    assert std == pytest.approx(np.std(values), rel=1e-10)
    metric_kid = pytest.importorskip("torch_fidelity.metric_kid")
    theirs = metric_kid.kid_features_to_metric(torch.from_numpy(f1), torch.from_numpy(f2), kid_subsets=7,
                                               kid_subset_size=20, verbose=False, rng_seed=2020)
    assert mean == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-12)


def test_same_distribution_gives_about_zero_and_shifted_more():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((400, 4)), rng.standard_normal((400, 4))
    same = kernel_inception_distance(a, b, subsets=20, subset_size=100)[0]
    shifted = kernel_inception_distance(a, b + 1, subsets=20, subset_size=100)[0]
    assert abs(same) < 0.05 < shifted


def test_fewer_samples_than_a_subset_is_a_clear_error():
    with pytest.raises(GanError, match="subsets of 1000 samples but got 999 and 2000"):
        kernel_inception_distance(np.zeros((999, 4)), np.zeros((2000, 4)))
