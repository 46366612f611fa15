"""The `loss` and `tricks` schemas are built from the components' own config dataclasses: a new
loss or trick brings its keys, defaults and ranges in its own module."""

from __future__ import annotations

import dataclasses

import pytest

from gan_cli.config_components import LossConfig, TricksConfig, _union
from gan_cli.config_ranges import non_negative, positive, ranged, ranges_of
from gan_cli.losses import LOSSES
from gan_cli.tricks import TRICKS


def defaults(schema) -> dict:
    return {f.name: f.default for f in dataclasses.fields(schema)}


def test_the_loss_schema_is_name_and_every_loss_key_with_its_own_default_and_range():
    declared = {}
    for cls in LOSSES.values():
        if cls.config is not None:
            declared.update(defaults(cls.config))
            assert ranges_of(cls.config).items() <= ranges_of(LossConfig).items()
    assert defaults(LossConfig) == {"name": "???", **declared}


def test_the_tricks_schema_has_one_optional_node_per_trick():
    nodes = {f.name: f.type for f in dataclasses.fields(TricksConfig)}
    assert nodes == {name: cls.config | None for name, cls in TRICKS.items()}
    assert all(f.default is None for f in dataclasses.fields(TricksConfig))


@dataclasses.dataclass
class PenaltyA:
    gp_weight: float = ranged(10.0, non_negative())


@dataclasses.dataclass
class PenaltyB:
    gp_weight: float = ranged(10.0, positive())


def test_a_key_two_losses_declare_differently_is_refused():
    assert [name for name, _, _ in _union({"a": PenaltyA, "b": PenaltyA})] == ["gp_weight"]
    with pytest.raises(TypeError, match="gp_weight is declared differently by a and b"):
        _union({"a": PenaltyA, "b": PenaltyB})
