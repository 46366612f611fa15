"""The `loss` and `tricks` schemas, built from the losses' and tricks' registries.

Each loss and trick declares its config dataclass beside its class
(`@register_loss("wgan_gp", config=WGANGPConfig)`, `@register_trick("r1", config=R1Config)`):
the keys, their defaults and their ranges live only there. This module gathers them:

- `LossConfig` is `name` plus the union of every loss's keys, each with its one default. One
  flat node rather than one schema per loss (Hydra's "many configs" pattern) because that is the
  config users have: every loss's keys exist whatever the loss (`loss=ns loss.clip=0.02` is
  accepted, as before), saved run configs load unchanged, and sweeps over `loss=` compose the same
  keys. A key two losses share (gp_weight: wgan_gp and dragan) must be declared alike.
- `TricksConfig` has one optional node per trick, in the tricks' `order`, which is also the order
  they run in (gan_cli/tricks/__init__.py: build_tricks).
"""

from __future__ import annotations

import dataclasses
import typing

from omegaconf import MISSING

from gan_cli.losses import LOSSES
from gan_cli.tricks import TRICKS


def _same(a: dataclasses.Field, b: dataclasses.Field) -> bool:
    return (a.type, a.default, a.default_factory, dict(a.metadata)) == (b.type, b.default, b.default_factory,
                                                                          dict(b.metadata))


def _union(owners: dict[str, type]) -> list[tuple[str, object, dataclasses.Field]]:
    """(name, type, field) of every field of the given dataclasses, each key once."""
    fields: dict[str, dataclasses.Field] = {}
    declared_by: dict[str, str] = {}
    for owner, schema in owners.items():
        hints = typing.get_type_hints(schema)
        for declared in dataclasses.fields(schema):
            key = declared.name
            f = dataclasses.field(default=declared.default, default_factory=declared.default_factory,
                                  metadata=declared.metadata)
            f.type = hints[key]
            if key in fields and not _same(fields[key], f):
                raise TypeError(f"loss key {key} is declared differently by {declared_by[key]} and {owner}")
            fields.setdefault(key, f)
            declared_by.setdefault(key, owner)
    return [(key, f.type, f) for key, f in fields.items()]


def _loss_schema() -> type:
    owners = {name: cls.config for name, cls in LOSSES.items() if cls.config is not None}
    name = ("name", str, dataclasses.field(default=MISSING))  # one of LOSSES
    return dataclasses.make_dataclass("LossConfig", [name, *_union(owners)])


def _tricks_schema() -> type:
    chosen = sorted(TRICKS.values(), key=lambda trick: trick.order)
    nodes = [(trick.name, trick.config | None, dataclasses.field(default=None)) for trick in chosen]
    return dataclasses.make_dataclass("TricksConfig", nodes)


LossConfig = _loss_schema()
TricksConfig = _tricks_schema()
# importable by name (pickled configs, e.g. a Slurm job's, name their schema's class)
LossConfig.__module__ = TricksConfig.__module__ = __name__
