"""The metric registry: each score family is one object, declared in its own file beside its
formula (`@register_metric("fid")` in fid.py), that says

- what it folds from the stream of (features, logits, labels) batches (`accumulates`),
- how its scores are computed from that and the reference (`compute`),
- what provenance it adds (`provenance`) and what settings it refuses (`check_settings`),
- which keys it writes and which way each is better (`scores`): the report and the sweep
  objective read them here.

gan_cli/metrics/__init__.py imports every metric file, so a new metric is one file. The registry
keeps their import order (file names, alphabetically), which is the order of the scores in
summary.json and of the report's columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Score:
    """One key a metric writes into the scores (summary.json, scores.jsonl)."""

    label: str  # as the report shows it
    higher_is_better: bool | None  # None: no known direction (not ranked, not highlighted)
    percent: bool = False  # a fraction shown as a percentage
    # JSON has no inf/nan: the trainer writes them as null. For reverse KL a null means "no
    # high-quality sample at all", i.e. an infinite divergence, not a missing value.
    null_means: float = math.nan


# What a metric folds from the stream; FeatureAccumulator keeps each once, however many metrics
# read it (kid, pr and dc share one copy of the feature rows).
STATISTICS = "statistics"  # float64 running mean and covariance of the features
LOGITS = "logits"  # per-split sums of p(y|x) and p log p, the Inception Score's
FEATURE_ROWS = "feature_rows"  # the feature rows themselves (of the real side, a seeded subset)
CLASS_COUNTS = "class_counts"  # the predicted-class histogram, and hits against the labels

# When a metric is computed: `image` ones when metrics.names lists them; `classes` ones whenever
# the domain classifier is the feature extractor (its logits are the data's classes); `toy` ones
# on every 2-D mixture.
KINDS = ("image", "classes", "toy")


class Metric:
    name: str = ""  # set by register_metric
    kind: str = "image"
    scores: dict[str, Score] = {}  # the keys compute() writes that are scores (spreads like is_std are not)
    accumulates: frozenset[str] = frozenset()
    needs_real: bool = True  # compares with real data (IS alone does not)

    def compute(self, fake, ref, mcfg, extractor) -> dict:
        """Scores from the fake side's FeatureAccumulator and the real side's Reference."""
        raise NotImplementedError

    def provenance(self, mcfg) -> dict:
        """The settings its numbers depend on, for the provenance beside the scores."""
        return {}

    def check_settings(self, mcfg) -> None:
        """Refuse metrics settings that cannot give this score, before any work starts."""

    def real_rows_needed(self, mcfg) -> int:
        """The fewest real feature rows it can work with (when it accumulates FEATURE_ROWS)."""
        return 0


METRICS: dict[str, Metric] = {}


def register_metric(name: str):
    def register(cls: type[Metric]) -> type[Metric]:
        if name in METRICS:
            raise ValueError(f"metric '{name}' registered twice")
        if cls.kind not in KINDS:
            raise ValueError(f"metric '{name}': kind {cls.kind!r} is not one of {KINDS}")
        cls.name = name
        METRICS[name] = cls()
        return cls

    return register


def metric_names(kind: str = "image") -> list[str]:
    """The metrics of one kind; for `image`, what metrics.names accepts."""
    return [name for name, metric in METRICS.items() if metric.kind == kind]


def score_keys(*kinds: str) -> dict[str, Score]:
    """Every score key the metrics of these kinds write (all kinds when none given), in registry order."""
    return {key: score for metric in METRICS.values() if not kinds or metric.kind in kinds
            for key, score in metric.scores.items()}
