"""Fuzzing `gan train` with random overrides over every group and key (tests/_fuzz.py).

The invariant: exit 0 with a finished summary, or exit 2 with one line and no folder, or exit
1 with a recorded status and one line; never a traceback. Most cases go in-process through the
checker that runs before Hydra (a refusal is one GanError line, anything else is a bug); fewer
run `gan train` for at most 2 steps. The fast suite runs a fixed seed; the slow one a new seed
each time, printed (GAN_FUZZ_SEED=<seed> replays it).
"""

from __future__ import annotations

import json
import os
import random
import shlex

import pytest

from gan_cli.cli import config_dir
from gan_cli.config_check import check_command_line
from gan_cli.errors import GanError
from gan_cli.preflight import TrainPreflight
from tests._fuzz import CaseGenerator
from tests._robustness_helpers import gan

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
