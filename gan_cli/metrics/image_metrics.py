"""Image metrics from a stream of batches: features are extracted batch by batch and folded into
running statistics, so only one batch of images is ever alive.

`metrics.names` picks registered metrics (registry.py): fid, is, kid, pr (precision/recall), dc
(density/coverage); each says what it accumulates, and the accumulator keeps each thing once. FID
and IS keep memory flat as N grows; kid/pr/dc need the features themselves (N x d floats, not
images). With the domain classifier, class coverage comes for free (and class accuracy for
conditional generators), with the real train-vs-test floor the classifier file carries.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from gan_cli.errors import GanError
from gan_cli.metrics.extractor import FeatureExtractor
from gan_cli.metrics.fid import MeanCovariance
from gan_cli.metrics.inception_score import InceptionScore
from gan_cli.metrics.registry import CLASS_COUNTS, FEATURE_ROWS, LOGITS, METRICS, STATISTICS, Metric

log = logging.getLogger("gan")

KEEP_SEED = 2020


@dataclass
class Reference:
    """What the scores compare against: the real data's statistics (and a subset of its features
    for kid/pr/dc, its predicted-class counts for the classifier)."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int
    description: str
    features: np.ndarray | None = None
    class_counts: np.ndarray | None = None
    split: str | None = None  # the dataset split, when the reference is a dataset's


class FeatureAccumulator:
    """Folds (features, logits, labels) batches into what the requested metrics need.

    keep: how many feature rows to keep for kid/pr/dc: a seeded random subset of the `total`
    samples (all of them when keep >= total), chosen up front so the stream needs no second pass.
    """

    def __init__(self, total: int, *, stats: bool = True, inception_score: bool = False, keep: int = 0,
                 class_counts: bool = False, is_splits: int = 10, is_shuffle: bool = True):
        self.total, self.seen = total, 0
        self.stats = MeanCovariance() if stats else None
        self.score = InceptionScore(total, is_splits, is_shuffle) if inception_score else None
        self.keep_mask = None
        if keep:
            mask = np.ones(total, dtype=bool)
            if keep < total:
                mask[:] = False
                mask[np.random.RandomState(KEEP_SEED).choice(total, keep, replace=False)] = True
            self.keep_mask = torch.from_numpy(mask)
        self.kept: list[torch.Tensor] = []
        self._rows: np.ndarray | None = None  # the kept rows joined, once (kid, pr and dc all read them)
        self.class_counts: torch.Tensor | None = None if not class_counts else torch.zeros(0)
        self.label_hits = 0
        self.labelled = 0

    def update(self, features: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor | None = None) -> None:
        n = len(features)
        if self.seen + n > self.total:
            raise GanError(f"more samples than the announced {self.total}")
        if self.stats is not None:
            self.stats.update(features)
        if self.score is not None:
            self.score.update(logits)
        if self.keep_mask is not None:
            mask = self.keep_mask[self.seen : self.seen + n]
            if mask.any():
                self.kept.append(features[mask.to(features.device)].float().cpu())
                self._rows = None
        if self.class_counts is not None:
            predicted = logits.argmax(1)
            counts = torch.bincount(predicted, minlength=logits.shape[1]).cpu()
            self.class_counts = counts if self.class_counts.numel() == 0 else self.class_counts + counts
            if labels is not None:
                self.label_hits += int((predicted.cpu() == labels.cpu()).sum())
                self.labelled += n
        self.seen += n

    def features(self) -> np.ndarray | None:
        if self._rows is None and self.kept:
            self._rows = torch.cat(self.kept).numpy()
        return self._rows


def accumulate(batches, extractor: FeatureExtractor, acc: FeatureAccumulator) -> FeatureAccumulator:
    for images, labels in batches:
        features, logits = extractor(images)
        acc.update(features, logits, labels)
    if acc.seen != acc.total:
        raise GanError(f"expected {acc.total} samples, got {acc.seen}")
    return acc


def chosen_metrics(names, extractor: FeatureExtractor) -> list[Metric]:
    """The metrics to compute, in registry order: those metrics.names lists, and with the domain
    classifier as extractor those of its predicted classes."""
    return [metric for metric in METRICS.values()
            if metric.name in names or (metric.kind == "classes" and extractor.name == "classifier")]


def _wanting(names, what: str) -> list[str]:
    """The names (in the order given) of the metrics that accumulate `what`."""
    return [n for n in names if what in METRICS[n].accumulates]


def real_features_kept(names, mcfg, total: int, fake_total: int) -> int:
    """How many real feature rows kid/pr/dc use: metrics.real_features, else as many as there are
    generated samples (precision/recall compare equal-size sets), at least what each needs (one
    KID subset)."""
    wanting = _wanting(names, FEATURE_ROWS)
    if not wanting:
        return 0
    wanted = mcfg.real_features or fake_total
    return min(total, max(wanted, *(METRICS[n].real_rows_needed(mcfg) for n in wanting)))


def fake_accumulator(total: int, names, mcfg, extractor: FeatureExtractor) -> FeatureAccumulator:
    wanted = set().union(*(metric.accumulates for metric in chosen_metrics(names, extractor)))
    return FeatureAccumulator(
        total, stats=STATISTICS in wanted, inception_score=LOGITS in wanted,
        keep=total if FEATURE_ROWS in wanted else 0,
        class_counts=CLASS_COUNTS in wanted, is_splits=mcfg.is_splits, is_shuffle=mcfg.is_shuffle,
    )


def compute_scores(fake: FeatureAccumulator, ref: Reference | None, names, mcfg, extractor: FeatureExtractor) -> dict:
    """Every chosen metric's scores, computed from the accumulated fake side and the reference."""
    scores: dict = {}
    chosen = chosen_metrics(names, extractor)
    for metric in chosen:
        if FEATURE_ROWS in metric.accumulates and (ref is None or ref.features is None):
            raise GanError(f"{_wanting(names, FEATURE_ROWS)[0]} needs real features, but the reference holds "
                           "statistics only: use a dataset, folder or .npz of images as the real set")
        scores.update(metric.compute(fake, ref, mcfg, extractor))
    floor = getattr(extractor, "floor", None)
    if floor:
        # what real data scores in this feature space, the best a generator can hope for: each
        # floor right after its score, so the final table reads "fid, fid_floor, is, is_floor, ..."
        declared = {key for metric in chosen for key in metric.scores}  # not spreads such as is_std
        floors = {k: floor[k] for k in scores if k in declared and k in floor}
        ordered: dict = {}
        for k, v in scores.items():
            ordered[k] = v
            if k in floors:
                ordered[f"{k}_floor"] = floors[k]
        scores = ordered
    return scores


def provenance(extractor: FeatureExtractor, fake: FeatureAccumulator, ref: Reference | None, names, mcfg) -> dict:
    prov = {**extractor.provenance, "metrics": list(names), "num_samples": fake.seen}
    if ref is not None:
        prov.update({"real": ref.description, "real_num_samples": ref.n})
        if ref.split:
            prov["real_split"] = ref.split
        if ref.features is not None:
            prov["real_features"] = len(ref.features)
    for metric in chosen_metrics(names, extractor):
        prov.update(metric.provenance(mcfg))
    floor = getattr(extractor, "floor", None)
    if floor:
        prov["floor"] = floor.get("description", "real test vs train")
    return prov
