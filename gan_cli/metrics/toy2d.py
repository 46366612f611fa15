"""Mode-collapse metrics for the 2-D mixtures (PacGAN / VEEGAN protocol, REFERENCES.md).

A sample is high quality if it lies within 3 standard deviations of its nearest mode's mean;
a mode is captured if at least one high-quality sample is nearest to it; reverse KL is
KL(histogram of high-quality samples over modes || uniform).
"""

from __future__ import annotations

import math

import torch

from gan_cli.metrics.registry import Metric, Score, register_metric


def mode_metrics(points: torch.Tensor, means: torch.Tensor, std: float) -> dict[str, float]:
    points = points.detach().double().cpu()
    means = means.double().cpu()
    dist = torch.cdist(points, means)  # (N, K)
    nearest_dist, nearest = dist.min(dim=1)
    high_quality = nearest_dist <= 3 * std
    counts = torch.bincount(nearest[high_quality], minlength=len(means)).double()
    hq = int(high_quality.sum())
    if hq == 0:
        reverse_kl = math.inf
    else:
        p = counts / hq
        q = 1.0 / len(means)
        nz = p > 0
        reverse_kl = float((p[nz] * (p[nz] / q).log()).sum())
    return {
        "modes": int((counts > 0).sum()),
        "hq_fraction": hq / len(points),
        "reverse_kl": reverse_kl,
    }


@register_metric("modes")
class ModeMetrics(Metric):
    """The 2-D mixtures' scores, all three from one pass over the generated points: scores.py and
    `gan eval` call mode_metrics with the points and the mixture (no features, no reference
    statistics); this object says what the keys are and which way is better."""

    kind = "toy"
    scores = {"modes": Score("modes", higher_is_better=True),
              "hq_fraction": Score("high-quality %", higher_is_better=True, percent=True),
              "reverse_kl": Score("reverse KL", higher_is_better=False, null_means=math.inf)}
