"""Kernel Inception Distance (Bińkowski et al. 2018): the unbiased MMD^2 with the polynomial
kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets.

As MMD-GAN's code and torch-fidelity: `subsets` draws of `subset_size` samples from each set
without replacement, from one np.random.RandomState(seed) (the first set's indices drawn first in
each round); mean and std (ddof=0) over the subsets. Kernels in float64 (torch-fidelity's are
float32), on the features' device.
"""

from __future__ import annotations

import numpy as np
import torch

from gan_cli.errors import GanError
from gan_cli.metrics.registry import FEATURE_ROWS, Metric, Score, register_metric

SEED = 2020


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x @ y.T / x.shape[1] + 1) ** 3


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> float:
    """(sum offdiag Kxx + sum offdiag Kyy) / (m (m - 1)) - 2 sum Kxy / m^2, equal-size sets."""
    m = len(x)
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    within = (k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return float(within - 2 * k_xy.sum() / m**2)


def kernel_inception_distance(features1, features2, subsets: int = 100, subset_size: int = 1000,
                              seed: int = SEED, device: torch.device | str | None = None) -> tuple[float, float]:
    f1 = torch.as_tensor(np.asarray(features1) if not torch.is_tensor(features1) else features1)
    f2 = torch.as_tensor(np.asarray(features2) if not torch.is_tensor(features2) else features2)
    device = device or f1.device
    n1, n2 = len(f1), len(f2)
    if min(n1, n2) < subset_size:
        raise GanError(
            f"KID draws subsets of {subset_size} samples but got {n1} and {n2}: raise metrics.num_samples "
            f"(and metrics.real_num_samples) to at least {subset_size}, or lower metrics.kid_subset_size"
        )
    if subset_size < 2:
        raise GanError("metrics.kid_subset_size must be at least 2 (the unbiased estimate divides by m - 1)")
    f1, f2 = f1.to(device, torch.float64), f2.to(device, torch.float64)
    rng = np.random.RandomState(seed)
    values = []
    for _ in range(subsets):
        i1 = torch.from_numpy(rng.choice(n1, subset_size, replace=False)).to(device)
        i2 = torch.from_numpy(rng.choice(n2, subset_size, replace=False)).to(device)
        values.append(mmd2_unbiased(f1[i1], f2[i2]))
    return float(np.mean(values)), float(np.std(values))


@register_metric("kid")
class KID(Metric):
    """MMD^2 between subsets of the generated and the kept real feature rows."""

    scores = {"kid": Score("KID", higher_is_better=False)}
    accumulates = frozenset({FEATURE_ROWS})

    def compute(self, fake, ref, mcfg, extractor) -> dict:
        mean, std = kernel_inception_distance(fake.features(), ref.features, mcfg.kid_subsets, mcfg.kid_subset_size,
                                              device=extractor.device)
        return {"kid": mean, "kid_std": std}

    def provenance(self, mcfg) -> dict:
        return {"kid_subsets": mcfg.kid_subsets, "kid_subset_size": mcfg.kid_subset_size}

    def check_settings(self, mcfg) -> None:
        if mcfg.num_samples < mcfg.kid_subset_size:
            raise GanError(f"metrics.num_samples={mcfg.num_samples} is fewer than metrics.kid_subset_size="
                           f"{mcfg.kid_subset_size} (KID draws subsets of that size): raise num_samples or lower "
                           "kid_subset_size")

    def real_rows_needed(self, mcfg) -> int:
        return mcfg.kid_subset_size  # at least one subset
