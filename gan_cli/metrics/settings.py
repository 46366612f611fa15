"""The values the metrics settings accept, checked before any work starts (config_check calls
`check_metrics_settings` on every composed command line), so a typo in metrics.names fails at once
instead of at the end of a training run. The metric names, and what each metric refuses, come from
the registry (registry.py)."""

from __future__ import annotations

from gan_cli.errors import GanError
from gan_cli.metrics.registry import METRICS, metric_names

FEATURES = ("auto", "inception", "classifier", "none")
PREPROCESSINGS = ("tf1", "pytorch_fid")


def check_names(names) -> list[str]:
    names = list(names)
    known = metric_names("image")
    unknown = [n for n in names if n not in known]
    if unknown:
        raise GanError(f"metrics.names: unknown metric '{unknown[0]}': choose from {', '.join(known)}")
    return names


def check_metrics_settings(mcfg) -> None:
    names = check_names(mcfg.names)
    if mcfg.features not in FEATURES:
        raise GanError(f"metrics.features={mcfg.features}: choose one of {', '.join(FEATURES)}")
    if mcfg.preprocessing not in PREPROCESSINGS:
        raise GanError(f"metrics.preprocessing={mcfg.preprocessing}: choose {' or '.join(PREPROCESSINGS)}")
    for key in ("num_samples", "batch_size", "is_splits", "kid_subsets", "pr_k", "dc_k"):
        if mcfg[key] < 1:
            raise GanError(f"metrics.{key}={mcfg[key]}: it must be at least 1")
    for metric in METRICS.values():  # registry order: the first refusal is the same whatever names' order
        if metric.name in names:
            metric.check_settings(mcfg)
