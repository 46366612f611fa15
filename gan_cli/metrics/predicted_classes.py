"""Scores of the classes the domain classifier predicts for generated samples, against the real
data's: computed whenever the classifier is the feature extractor (its logits are the dataset's
classes), with class accuracy for conditional generators (their labels are the intended classes).
"""

from __future__ import annotations

import math

import torch

from gan_cli.metrics.registry import CLASS_COUNTS, Metric, Score, register_metric


def class_metrics(fake_counts: torch.Tensor, real_counts: torch.Tensor) -> dict[str, float]:
    """class_coverage = sum_k min(p_k, q_k): the share of the real class distribution q that the
    generated one p covers (1 = every class in its real proportion); class_kl = KL(p || q), the
    mode-collapse protocol's reverse KL with the real class distribution as reference."""
    p = fake_counts.double() / fake_counts.sum()
    q = real_counts.double() / real_counts.sum()
    nz = p > 0
    kl = float((p[nz] * (p[nz] / q[nz]).log()).sum()) if bool((q[nz] > 0).all()) else math.inf
    return {"class_coverage": float(torch.minimum(p, q).sum()), "class_kl": kl}


@register_metric("classes")
class PredictedClasses(Metric):
    kind = "classes"
    scores = {"class_coverage": Score("class coverage", higher_is_better=True),
              "class_kl": Score("class KL", higher_is_better=False),
              "class_accuracy": Score("class accuracy", higher_is_better=True)}
    accumulates = frozenset({CLASS_COUNTS})

    def compute(self, fake, ref, mcfg, extractor) -> dict:
        if ref is None or ref.class_counts is None:  # a pytorch-fid statistics file: no classes
            return {}
        scores = class_metrics(fake.class_counts, torch.as_tensor(ref.class_counts))
        if fake.labelled:
            scores["class_accuracy"] = fake.label_hits / fake.labelled
        return scores
