"""Helpers for the robustness tests (resume, signals, errors, sweeps): a tiny ring run, the CLI
on one thread in a subprocess, and checkpoint comparison."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gan_cli import checkpoint as ckpt_io
from tests.conftest import REPO, run_gan

# A ring run that takes a fraction of a second per ten steps on one CPU core.
TINY_RING = [
    "experiment=ring",
    "tricks=[]",  # the preset's R1 and EMA: not what these tests are about
    "arch.g_hidden=[32,32]",
    "arch.d_hidden=[32,32]",
    "trainer.batch_size=32",
    "trainer.sample_every=0",
    "trainer.progress=false",
    "metrics.toy_samples=200",
    "device=cpu",
]
# Tiny runs gain nothing from intra-op threads; on a busy 2-core machine idle-spinning OpenMP
# threads make them 10-20x slower.
ONE_THREAD = {"OMP_NUM_THREADS": "1"}


def gan(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return run_gan(*args, cwd=REPO, env=ONE_THREAD, timeout=timeout)


def start_python(*args: str, **popen) -> subprocess.Popen:
    """`python ARGS` with this checkout's code, started in the background (to be signalled or killed)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), **ONE_THREAD}
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.Popen([sys.executable, *args], cwd=REPO, env=env, **popen)


def start_gan(*args: str, **popen) -> subprocess.Popen:
    return start_python("-m", "gan_cli.cli", *args, **popen)


def state_differences(a: Path, b: Path) -> list[str]:
    return ckpt_io.state_differences(ckpt_io.safe_load(a), ckpt_io.safe_load(b))
