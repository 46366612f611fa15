"""Fuzzing `gan train` with random overrides over every group and key (the case generator below).

The invariant: exit 0 with a finished summary, or exit 2 with one line and no folder, or exit
1 with a recorded status and one line; never a traceback. Most cases go in-process through the
checker that runs before Hydra (a refusal is one GanError line, anything else is a bug); fewer
run `gan train` for at most 2 steps. The fast suite runs a fixed seed; the slow one a new seed
each time, printed (GAN_FUZZ_SEED=<seed> replays it).
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shlex
import typing
from pathlib import Path

import pytest

from gan_cli import config as schemas
from gan_cli.cli import config_dir
from gan_cli.config_check import check_command_line
from gan_cli.errors import GanError
from gan_cli.preflight import TrainPreflight
from tests.helpers import gan

# ----------------------------------------------------------------------------- the cases
# Random `gan train` command lines over every config group option and every schema key. The keys
# come from walking the schemas and the options from the folders in conf/, so keys and options
# added later are fuzzed without touching this file. Values are in and out of range, of the wrong
# type, empty, huge or not finite.
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


# ----------------------------------------------------------------------------- the tests
RING = ["dataset=ring", "arch=mlp", "metrics=none", "device=cpu"]
# what would make a subprocess case long: steps and time, other datasets (downloads), compiling
SLOW_KEYS = ("trainer.steps", "trainer.max_minutes", "trainer.compile", "dataset.", "metrics.")
SLOW_GROUPS = ("dataset", "experiment", "metrics")
RUN = [*RING, "trainer.steps=2", "trainer.progress=false", "trainer.log_every=1", "trainer.batch_size=16",
       "arch.g_hidden=[16]", "arch.d_hidden=[16]"]


def fuzz_seed(default: int | None) -> int:
    seed = int(os.environ.get("GAN_FUZZ_SEED", default if default is not None else random.randrange(2**31)))
    print(f"fuzz seed {seed} (replay: GAN_FUZZ_SEED={seed})")
    return seed


def check_in_process(seed: int, cases: int) -> dict:
    """Each case through the pre-run checker: it passes or refuses with one GanError line."""
    generator = CaseGenerator(seed)
    preflight = TrainPreflight(fetch_data=False)  # no downloads; remembers data and builds across cases
    outcomes = {"accepted": 0, "refused": 0}
    for i in range(cases):
        case = RING + generator.case()
        try:
            check_command_line("train", config_dir(), case, preflight=preflight)
        except GanError as e:
            message = str(e)
            assert message and "\n" not in message, f"seed {seed} case {i}: {shlex.join(case)}: {message!r}"
            outcomes["refused"] += 1
            continue
        except Exception as e:  # noqa: BLE001 - any other exception is the finding
            raise AssertionError(f"seed {seed} case {i}: {shlex.join(case)} raised {type(e).__name__}: {e}") from e
        outcomes["accepted"] += 1
    print(f"in-process: {cases} cases, {outcomes}")
    return outcomes


def check_runs(seed: int, cases: int, tmp_path) -> dict:
    """Each case as a real `gan train` of at most 2 steps."""
    generator = CaseGenerator(seed, exclude_keys=SLOW_KEYS, exclude_groups=SLOW_GROUPS)
    outcomes = {0: 0, 1: 0, 2: 0}
    for i in range(cases):
        run_dir = tmp_path / f"case{i}"
        case = [*RUN, *generator.case(), "trainer.steps=2", f"hydra.run.dir={run_dir}"]
        result = gan("train", *case, timeout=240)
        where = f"seed {seed} case {i}: gan train {shlex.join(case)} -> exit {result.returncode}\n{result.stderr[-2000:]}"
        assert "Traceback" not in result.stderr + result.stdout, where
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        summary_path = run_dir / "summary.json"
        summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
        if result.returncode == 0:
            assert summary.get("status") == "finished", where
        elif result.returncode == 2:
            assert len(errors) == 1 and result.stderr.strip() == errors[0], where
            assert not run_dir.exists(), where
        elif result.returncode == 1:
            assert len(errors) == 1, where
            assert summary.get("status") in ("failed", "diverged") and summary.get("reason"), where
        else:
            raise AssertionError(where)
        outcomes[result.returncode] += 1
    print(f"runs: {cases} cases, exit codes {outcomes}")
    return outcomes


def test_fuzz_the_checker_in_process():
    outcomes = check_in_process(fuzz_seed(19), cases=30)
    assert outcomes["refused"] and outcomes["accepted"]  # the generator reaches both sides


def test_fuzz_gan_train_runs(tmp_path):
    check_runs(fuzz_seed(19), cases=3, tmp_path=tmp_path)


@pytest.mark.slow
def test_fuzz_the_checker_in_process_many():
    check_in_process(fuzz_seed(None), cases=400)


@pytest.mark.slow
def test_fuzz_gan_train_runs_many(tmp_path):
    check_runs(fuzz_seed(None), cases=60, tmp_path=tmp_path)
