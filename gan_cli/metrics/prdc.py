"""k-nearest-neighbour manifold metrics between generated and real features.

Precision / recall (Kynkäänniemi et al. 2019, k = 3): each sample's radius is the distance to its
k-th nearest neighbour in its own set (itself excluded); precision is the fraction of generated
samples inside some real sample's ball (membership `<=`), recall the fraction of real samples
inside some generated sample's ball. Density / coverage (Naeem et al. 2020, k = 5, membership `<`):
density = sum over generated samples of the number of real balls holding it, / (k M); coverage =
fraction of real samples whose ball holds at least one generated sample.

Distances in float64, in row chunks, so the N x M matrix is never held whole.
"""

from __future__ import annotations

import torch

from gan_cli.errors import GanError
from gan_cli.metrics.registry import FEATURE_ROWS, Metric, Score, register_metric

CHUNK = 2048


def _as_float64(x, device) -> torch.Tensor:
    return torch.as_tensor(x).to(device, torch.float64)


def knn_radii(x: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each row of x to its k-th nearest other row."""
    if len(x) <= k:
        raise GanError(f"k-NN metrics with k={k} need more than {k} samples per set, got {len(x)}: "
                       "raise metrics.num_samples")
    radii = [torch.cdist(part, x).kthvalue(k + 1, dim=1).values for part in x.split(CHUNK)]  # +1: itself
    return torch.cat(radii)


def _inside_counts(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, strict: bool) -> torch.Tensor:
    """For each point, how many balls (centre, radius) hold it."""
    counts = []
    for part in points.split(CHUNK):
        d = torch.cdist(part, centres)
        inside = d < radii[None] if strict else d <= radii[None]
        counts.append(inside.sum(1))
    return torch.cat(counts)


def precision_recall(fake, real, k: int = 3, device=None) -> tuple[float, float]:
    device = device or torch.as_tensor(fake).device
    fake, real = _as_float64(fake, device), _as_float64(real, device)
    precision = (_inside_counts(fake, real, knn_radii(real, k), strict=False) > 0).double().mean()
    recall = (_inside_counts(real, fake, knn_radii(fake, k), strict=False) > 0).double().mean()
    return float(precision), float(recall)


def density_coverage(fake, real, k: int = 5, device=None) -> tuple[float, float]:
    device = device or torch.as_tensor(fake).device
    fake, real = _as_float64(fake, device), _as_float64(real, device)
    real_radii = knn_radii(real, k)
    density = _inside_counts(fake, real, real_radii, strict=True).double().sum() / (k * len(fake))
    nearest_fake = torch.cat([torch.cdist(part, fake).min(1).values for part in real.split(CHUNK)])
    coverage = (nearest_fake < real_radii).double().mean()
    return float(density), float(coverage)


@register_metric("pr")
class PrecisionRecall(Metric):
    scores = {"precision": Score("precision", higher_is_better=True),
              "recall": Score("recall", higher_is_better=True)}
    accumulates = frozenset({FEATURE_ROWS})

    def compute(self, fake, ref, mcfg, extractor) -> dict:
        precision, recall = precision_recall(fake.features(), ref.features, mcfg.pr_k, device=extractor.device)
        return {"precision": precision, "recall": recall}

    def provenance(self, mcfg) -> dict:
        return {"pr_k": mcfg.pr_k}


@register_metric("dc")
class DensityCoverage(Metric):
    scores = {"density": Score("density", higher_is_better=True),
              "coverage": Score("coverage", higher_is_better=True)}
    accumulates = frozenset({FEATURE_ROWS})

    def compute(self, fake, ref, mcfg, extractor) -> dict:
        density, coverage = density_coverage(fake.features(), ref.features, mcfg.dc_k, device=extractor.device)
        return {"density": density, "coverage": coverage}

    def provenance(self, mcfg) -> dict:
        return {"dc_k": mcfg.dc_k}
