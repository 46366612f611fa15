"""Precision/recall and density/coverage against brute-force loops and torch-fidelity's prc."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gan_cli.metrics import prdc
from gan_cli.metrics.prdc import density_coverage, precision_recall


def brute_force(fake: np.ndarray, real: np.ndarray, k_pr: int = 3, k_dc: int = 5):
    def radius(x, i, k):
        d = sorted(np.linalg.norm(x - x[i], axis=1))
        return d[k]  # d[0] is the point itself

    def within(p, centres, k, strict):
        return [sum((np.linalg.norm(p - c) < radius(centres, j, k)) if strict else
                    (np.linalg.norm(p - c) <= radius(centres, j, k)) for j, c in enumerate(centres))]

    precision = np.mean([within(f, real, k_pr, False)[0] > 0 for f in fake])
    recall = np.mean([within(r, fake, k_pr, False)[0] > 0 for r in real])
    density = sum(within(f, real, k_dc, True)[0] for f in fake) / (k_dc * len(fake))
    coverage = np.mean([min(np.linalg.norm(fake - r, axis=1)) < radius(real, i, k_dc) for i, r in enumerate(real)])
    return precision, recall, density, coverage


def test_equal_to_brute_force(monkeypatch):
    monkeypatch.setattr(prdc, "CHUNK", 7)  # several chunks
    rng = np.random.default_rng(0)
    fake, real = rng.standard_normal((40, 3)) + 0.7, rng.standard_normal((30, 3))
    p, r, d, c = brute_force(fake, real)
    assert precision_recall(fake, real, k=3) == pytest.approx((p, r), abs=1e-15)
    assert density_coverage(fake, real, k=5) == pytest.approx((d, c), abs=1e-15)
    assert 0 < p < 1 and 0 < r < 1  # the example separates something


def test_precision_recall_equal_torch_fidelity():
    metric_prc = pytest.importorskip("torch_fidelity.metric_prc")
    rng = np.random.default_rng(1)
    fake, real = torch.from_numpy(rng.standard_normal((80, 6)) * 1.5), torch.from_numpy(rng.standard_normal((70, 6)))
    theirs = metric_prc.prc_features_to_metric(fake, real, prc_neighborhood=3, prc_batch_size=10000,
                                               save_cpu_ram=False, verbose=False)
    assert precision_recall(fake, real) == pytest.approx((theirs["precision"], theirs["recall"]), abs=1e-15)


def test_identical_sets_are_perfect():
    x = np.random.default_rng(2).standard_normal((50, 4))
    assert precision_recall(x, x) == (1.0, 1.0)
    assert density_coverage(x, x)[1] == 1.0
