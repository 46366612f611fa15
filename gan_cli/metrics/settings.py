"""The values the metrics settings accept, checked before any work starts (config_check calls
`check_metrics_settings` on every composed command line), so a typo in metrics.names fails at once
instead of at the end of a training run. Light on purpose: no torch import."""

from __future__ import annotations

from gan_cli.errors import GanError

METRIC_NAMES = ("fid", "is", "kid", "pr", "dc")
FEATURES = ("auto", "inception", "classifier", "none")
PREPROCESSINGS = ("tf1", "pytorch_fid")


def check_names(names) -> list[str]:
    names = list(names)
    unknown = [n for n in names if n not in METRIC_NAMES]
    if unknown:
        raise GanError(f"metrics.names: unknown metric '{unknown[0]}': choose from {', '.join(METRIC_NAMES)}")
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
    if "is" in names and mcfg.num_samples < mcfg.is_splits:
        raise GanError(f"metrics.num_samples={mcfg.num_samples} is fewer than metrics.is_splits={mcfg.is_splits}: "
                       "raise num_samples")
    if "kid" in names and mcfg.num_samples < mcfg.kid_subset_size:
        raise GanError(f"metrics.num_samples={mcfg.num_samples} is fewer than metrics.kid_subset_size="
                       f"{mcfg.kid_subset_size} (KID draws subsets of that size): raise num_samples or lower kid_subset_size")
