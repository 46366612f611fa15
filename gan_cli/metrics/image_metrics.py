"""Image metrics from a stream of batches: features are extracted batch by batch and folded into
running statistics, so only one batch of images is ever alive.

`metrics.names` picks: fid, is, kid, pr (precision/recall), dc (density/coverage). FID and IS
keep memory flat as N grows; kid/pr/dc need the features themselves (N x d floats, not images).
With the domain classifier, class coverage comes for free (and class accuracy for conditional
generators), with the real train-vs-test floor the classifier file carries.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from gan_cli.errors import GanError
from gan_cli.metrics.classifier import class_metrics
from gan_cli.metrics.extractor import FeatureExtractor
from gan_cli.metrics.fid import MeanCovariance, frechet_distance, warn_if_few
from gan_cli.metrics.inception_score import InceptionScore
from gan_cli.metrics.kid import kernel_inception_distance
from gan_cli.metrics.prdc import density_coverage, precision_recall

log = logging.getLogger("gan")

NEEDS_FEATURES = ("kid", "pr", "dc")
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
        if self.class_counts is not None:
            predicted = logits.argmax(1)
            counts = torch.bincount(predicted, minlength=logits.shape[1]).cpu()
            self.class_counts = counts if self.class_counts.numel() == 0 else self.class_counts + counts
            if labels is not None:
                self.label_hits += int((predicted.cpu() == labels.cpu()).sum())
                self.labelled += n
        self.seen += n

    def features(self) -> np.ndarray | None:
        return torch.cat(self.kept).numpy() if self.kept else None


def accumulate(batches, extractor: FeatureExtractor, acc: FeatureAccumulator) -> FeatureAccumulator:
    for images, labels in batches:
        features, logits = extractor(images)
        acc.update(features, logits, labels)
    if acc.seen != acc.total:
        raise GanError(f"expected {acc.total} samples, got {acc.seen}")
    return acc


def real_features_kept(names, mcfg, total: int, fake_total: int) -> int:
    """How many real feature rows kid/pr/dc use: metrics.real_features, else as many as there are
    generated samples (precision/recall compare equal-size sets), at least one KID subset."""
    if not any(n in NEEDS_FEATURES for n in names):
        return 0
    wanted = mcfg.real_features or fake_total
    return min(total, max(wanted, mcfg.kid_subset_size if "kid" in names else 0))


def fake_accumulator(total: int, names, mcfg, extractor: FeatureExtractor) -> FeatureAccumulator:
    return FeatureAccumulator(
        total, stats="fid" in names, inception_score="is" in names,
        keep=total if any(n in NEEDS_FEATURES for n in names) else 0,
        class_counts=extractor.name == "classifier", is_splits=mcfg.is_splits, is_shuffle=mcfg.is_shuffle,
    )


def compute_scores(fake: FeatureAccumulator, ref: Reference | None, names, mcfg, extractor: FeatureExtractor) -> dict:
    """Every requested score, computed from the accumulated fake side and the reference."""
    scores: dict = {}
    if "fid" in names:
        mu, sigma = fake.stats.result()
        warn_if_few(fake.seen, extractor.dims)
        scores["fid"] = frechet_distance(mu, sigma, ref.mu, ref.sigma)
    if "is" in names:
        scores["is"], scores["is_std"] = fake.score.result()
    fake_features = fake.features()
    needs_real = [n for n in names if n in NEEDS_FEATURES]
    if needs_real and (ref is None or ref.features is None):
        raise GanError(f"{needs_real[0]} needs real features, but the reference holds statistics only: "
                       "use a dataset, folder or .npz of images as the real set")
    device = extractor.device
    if "kid" in names:
        scores["kid"], scores["kid_std"] = kernel_inception_distance(
            fake_features, ref.features, mcfg.kid_subsets, mcfg.kid_subset_size, device=device)
    if "pr" in names:
        scores["precision"], scores["recall"] = precision_recall(fake_features, ref.features, mcfg.pr_k, device=device)
    if "dc" in names:
        scores["density"], scores["coverage"] = density_coverage(fake_features, ref.features, mcfg.dc_k, device=device)
    if fake.class_counts is not None and ref is not None and ref.class_counts is not None:
        scores.update(class_metrics(fake.class_counts, torch.as_tensor(ref.class_counts)))
        if fake.labelled:
            scores["class_accuracy"] = fake.label_hits / fake.labelled
    floor = getattr(extractor, "floor", None)
    if floor:
        # what real data scores in this feature space, the best a generator can hope for: each
        # floor right after its score, so the final table reads "fid, fid_floor, is, is_floor, ..."
        floors = {k: floor[k] for k in ("fid", "is", "kid", "class_kl", "class_coverage") if k in scores and k in floor}
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
    if "is" in names:
        prov.update({"is_splits": mcfg.is_splits, "is_shuffle": mcfg.is_shuffle})
    if "kid" in names:
        prov.update({"kid_subsets": mcfg.kid_subsets, "kid_subset_size": mcfg.kid_subset_size})
    if "pr" in names:
        prov["pr_k"] = mcfg.pr_k
    if "dc" in names:
        prov["dc_k"] = mcfg.dc_k
    floor = getattr(extractor, "floor", None)
    if floor:
        prov["floor"] = floor.get("description", "real test vs train")
    return prov
