"""Random `gan train` command lines over every config group option and every schema key.

The keys come from walking the schemas (gan_cli/config.py, with the losses' and tricks' own) and the options from the
folders in conf/, so keys and options added later are fuzzed without touching this file. Values
are in and out of range, of the wrong type, empty, huge or not finite.
"""

from __future__ import annotations

import dataclasses
import random
import typing
from pathlib import Path

from gan_cli import config as schemas
from gan_cli.cli import config_dir

GROUPS = ("dataset", "arch", "loss", "optim", "tricks", "trainer", "metrics", "experiment")

VALUES = {
    int: ["0", "1", "2", "3", "-1", "-5", "1000000000000", "99999999999999999999", "abc", "", "1.5", "true"],
    float: ["0", "0.5", "1", "1e-4", "-1", "1e30", "-1e30", "nan", "inf", "abc", "", "true"],
    bool: ["true", "false", "maybe", "", "1", "null"],
    str: ["", "bogus", "none", "auto", "true", "0", "cuda", "'a b'"],
    list: ["[]", "[1]", "[0]", "[-1,2]", "[0.5,0.999]", "[1e30]", "abc", "[a]", ""],
}


@dataclasses.dataclass(frozen=True)
class Key:
    name: str  # tricks.ema.decay
    kind: type  # int | float | bool | str | list
    optional: bool
    trick: str | None  # the trick that must be selected for the key to exist


def schema_keys(schema=schemas.TrainConfig, prefix: str = "", trick: str | None = None) -> list[Key]:
    keys = []
    hints = typing.get_type_hints(schema)
    for f in dataclasses.fields(schema):
        kind = hints[f.name]
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        optional = type(None) in typing.get_args(kind)
        base = args[0] if optional and args else kind
        name = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(base):
            under_tricks = schema is schemas.TricksConfig
            keys += schema_keys(base, f"{name}.", f.name if under_tricks else trick)
        elif typing.get_origin(base) is list:
            keys.append(Key(name, list, optional, trick))
        elif base in (int, float, bool, str):
            keys.append(Key(name, base, optional, trick))
    return keys


def group_options(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(config_dir()) / group).glob("*.yaml"))


class CaseGenerator:
    """Reproducible from its seed: case i of seed s is always the same command line."""

    def __init__(self, seed: int, exclude_keys: tuple[str, ...] = (), exclude_groups: tuple[str, ...] = ()):
        self.rng = random.Random(seed)
        self.keys = [k for k in schema_keys() if not k.name.startswith(exclude_keys)]
        self.groups = {g: group_options(g) for g in GROUPS if g not in exclude_groups}

    def value(self, key: Key) -> str:
        pool = VALUES[key.kind] + (["null"] if key.optional else [])
        return self.rng.choice(pool)

    def group_override(self, group: str) -> str:
        options = self.groups[group]
        if group == "tricks":
            chosen = self.rng.sample(options, self.rng.randint(0, 3))
            return f"tricks=[{','.join(chosen)}]"
        return f"{group}={self.rng.choice([*options, 'bogus'])}"

    def case(self) -> list[str]:
        overrides: dict[str, str] = {}
        for _ in range(self.rng.randint(1, 4)):
            if self.groups and self.rng.random() < 0.3:
                group = self.rng.choice(list(self.groups))
                overrides[group] = self.group_override(group)
                continue
            key = self.rng.choice(self.keys)
            if key.trick and self.rng.random() < 0.8 and "tricks" not in overrides:
                overrides["tricks"] = f"tricks=[{key.trick}]"
            overrides[key.name] = f"{key.name}={self.value(key)}"
        return list(overrides.values())
