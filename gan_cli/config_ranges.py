"""The valid range of every numeric setting, checked on the composed config before any work.

The schemas give each key its type; its range, declared beside it (`ranged(10.0, non_negative())`,
kept in the dataclass field's metadata), gives each number its meaning: counts are at least 1,
intervals at least 1 or 0 for "never", rates are positive, fractions lie in [0, 1]. One walk over
the composed config checks them all, for `gan train` and every other command, for each job of a
sweep, and under `--cfg job` alike (config_check calls `check_ranges`). Sizes have upper limits
too, so that a slip of the keyboard (width=64000) is refused instead of exhausting the machine's
memory. A new numeric key needs its range: tests/unit/test_ranges.py walks the schemas and fails for a
key without one.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

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


# the vocabulary of the ranges
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

RANGE = "range"  # the key of a field's range in its metadata


def ranged(default: Any = dataclasses.MISSING, rule: Range = ANY, *, default_factory: Any = dataclasses.MISSING):
    """A schema field with its valid range: `gp_weight: float = ranged(10.0, non_negative())`;
    a list's rule holds for each element (`ranged(rule=count(), default_factory=lambda: [128])`)."""
    return dataclasses.field(default=default, default_factory=default_factory, metadata={RANGE: rule})


def ranges_of(schema: type) -> dict[str, Range]:
    """Each ranged field of a schema dataclass: its name and rule."""
    return {f.name: f.metadata[RANGE] for f in dataclasses.fields(schema) if RANGE in f.metadata}


def check_ranges(cfg: DictConfig, prefix: str = "") -> None:
    """Raise GanError naming the first value outside its range, with the range."""
    schema = OmegaConf.get_type(cfg)
    ranges = ranges_of(schema) if dataclasses.is_dataclass(schema) else {}
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
