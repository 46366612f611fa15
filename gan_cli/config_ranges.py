"""The valid range of every numeric setting, checked on the composed config before any work.

The schemas in config.py give each key its type; this table gives each number its meaning:
counts are at least 1, intervals at least 1 or 0 for "never", rates are positive, fractions lie
in [0, 1]. One walk over the composed config checks them all, for `gan train` and every other
command, for each job of a sweep, and under `--cfg job` alike (config_check calls
`check_ranges`). Sizes have upper limits too, so that a slip of the keyboard (width=64000)
is refused instead of exhausting the machine's memory. A new numeric key needs its line here:
tests/test_ranges.py walks the schemas and fails for a key without one.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from omegaconf import DictConfig, ListConfig, OmegaConf

from gan_cli import config as c
from gan_cli.errors import GanError


@dataclass(frozen=True)
class Range:
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself is refused (rates: > 0)
    high_open: bool = False
    zero: str | None = None  # what 0 means when it is allowed below `low` ("never")

    def problem(self, value) -> str | None:
        """Why `value` is refused, or None."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None  # types are the schema's job
        if isinstance(value, float) and not math.isfinite(value):
            return "it must be a finite number"
        if self.zero is not None and value == 0:
            return None
        too_low = self.low is not None and (value < self.low or (self.low_open and value == self.low))
        too_high = self.high is not None and (value > self.high or (self.high_open and value == self.high))
        return f"it must be {self.describe()}" if too_low or too_high else None

    def describe(self) -> str:
        low = None if self.low is None else f"{'>' if self.low_open else '>='} {_num(self.low)}"
        high = None if self.high is None else f"{'<' if self.high_open else '<='} {_num(self.high)}"
        if low and high:
            text = f"in {'(' if self.low_open else '['}{_num(self.low)}, {_num(self.high)}{')' if self.high_open else ']'}"
        else:
            text = low or high or "a number"
        return f"{text}, or 0 for {self.zero}" if self.zero else text


def _num(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else f"{x:,}".replace(",", "_") if x >= 100_000 else str(x)


# the vocabulary of the table below
def count(high: int = 10**7) -> Range:
    return Range(1, high)


def interval() -> Range:
    return Range(1, 10**9, zero="never")


def non_negative(high: float | None = None) -> Range:
    return Range(0, high)


def positive(high: float | None = None) -> Range:
    return Range(0, high, low_open=True)


FRACTION = Range(0, 1)
ANY = Range()  # any finite number
SEED = Range(0, 2**32 - 1)

RANGES: dict[type, dict[str, Range]] = {
    c.DatasetConfig: {"resolution": Range(4, 2048), "channels": Range(1, 4), "max_in_memory_mb": non_negative(),
                      "num_workers": non_negative(256), "std": positive()},
    # dataset.limit (an int N or a fraction in (0, 1]) is checked by gan_cli/data/subset.py, which knows both forms
    c.GrowConfig: {"start_resolution": Range(4, 1024), "stable_images": count(10**10), "fade_images": count(10**10)},
    c.ArchConfig: {"z_dim": count(4096), "g_hidden": count(65536), "d_hidden": count(65536), "width": count(2048),
                   "w_dim": count(4096), "mapping_layers": count(64), "mapping_lr": positive(1),
                   "channel_base": count(2**20), "channel_max": count(4096), "conv_clamp": positive(),
                   "mbstd_group_size": count(4096), "style_mixing": FRACTION, "shared_dim": non_negative(4096),
                   "attention": non_negative(2048)},
    c.LossConfig: {"clip": positive(), "gp_weight": non_negative(), "gp_center": non_negative(),
                   "dragan_scale": positive(), "div_k": non_negative(), "div_p": positive(), "lsgan_a": ANY,
                   "lsgan_b": ANY, "lsgan_c": ANY, "drift": non_negative()},
    c.OptimizerConfig: {"lr": positive(), "betas": Range(0, 1, high_open=True), "eps": positive(),
                        "weight_decay": non_negative(), "momentum": Range(0, 1, high_open=True)},
    c.MinibatchDiscriminationConfig: {"num_kernels": count(4096), "kernel_dim": count(1024)},
    c.HistoricalAveragingConfig: {"weight": non_negative()},
    c.LabelSmoothingConfig: {"real": FRACTION, "fake": FRACTION},
    c.FeatureMatchingConfig: {"weight": non_negative(), "adversarial": non_negative()},
    c.MinibatchStddevConfig: {"group_size": count(4096)},
    c.SpectralNormConfig: {"power_iterations": count(100)},
    c.EMAConfig: {"decay": FRACTION, "start_step": non_negative(10**9), "bn_batches": non_negative(10**4)},
    c.PackConfig: {"m": count(64)},
    c.R1Config: {"gamma": non_negative(), "every": count(10**6)},
    c.TrainerConfig: {"steps": count(10**9), "max_minutes": positive(), "batch_size": count(65536),
                      "d_steps": count(1000), "checkpoint_every": interval(), "keep_checkpoints": non_negative(10**6),
                      "sample_every": interval(), "eval_every": interval(), "log_every": count(10**9),
                      "num_samples": count(10_000)},
    c.MetricsConfig: {"num_samples": count(), "batch_size": count(65536), "real_num_samples": count(),
                      "real_features": count(), "is_splits": count(1000), "kid_subsets": count(10**5),
                      "kid_subset_size": count(), "pr_k": count(1000), "dc_k": count(1000), "toy_samples": count()},
    c.ADAConfig: {"target": FRACTION, "interval": count(10**6), "kimg": positive(), "initial_p": FRACTION,
                  "max_p": Range(0, 1, high_open=True)},  # p < 1: every augmentation stays non-leaking
    c.PathLengthConfig: {"weight": non_negative(), "every": count(10**6), "decay": FRACTION, "batch_shrink": count(4096)},
    c.OrthogonalConfig: {"strength": non_negative()},
    c.LeCamConfig: {"weight": non_negative(), "decay": FRACTION},
    c.ConsistencyConfig: {"lambda_real": non_negative(), "lambda_fake": non_negative()},
    c.TrainConfig: {"seed": SEED},
    c.SampleConfig: {"n": count(), "label": non_negative(10**6), "seed": SEED, "batch_size": count(65536),
                     "truncation": Range(0, 1, low_open=True)},
    c.ClassifierConfig: {"epochs": count(10**4), "batch_size": count(65536), "lr": positive(), "width": count(2048),
                         "feature_dim": count(65536), "seed": SEED},
    c.ReportConfig: {"watch": non_negative()},  # seconds between passes; 0: write once
}


def check_ranges(cfg: DictConfig, prefix: str = "") -> None:
    """Raise GanError naming the first value outside its range, with the range."""
    schema = OmegaConf.get_type(cfg)
    ranges = RANGES.get(schema, {}) if dataclasses.is_dataclass(schema) else {}
    for key in cfg.keys():
        if key == "hydra":
            continue
        full = f"{prefix}{key}"
        node = cfg._get_node(key)
        if isinstance(node, DictConfig):
            if not node._is_none() and not node._is_missing():
                check_ranges(node, f"{full}.")
            continue
        if key not in ranges:
            continue
        values = list(node) if isinstance(node, ListConfig) and not node._is_none() else [cfg.get(key)]
        for value in values:
            problem = ranges[key].problem(value)
            if problem:
                shown = f"{full}={_show(cfg.get(key))}"
                raise GanError(f"{shown}: {problem}")


def _show(value) -> str:
    if isinstance(value, ListConfig):
        return "[" + ",".join(str(v) for v in value) + "]"
    return str(value)
