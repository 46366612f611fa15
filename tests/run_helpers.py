"""Helpers for tests that train tiny runs: compose a config in-process, run the `gan` CLI in a
subprocess, and compare checkpoints tensor by tensor."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import torch

from gan_cli import checkpoint as ckpt_io

REPO = Path(__file__).resolve().parent.parent
# A ring run that takes a fraction of a second per ten steps on one CPU core.
TINY_RING = [
    "experiment=ring",
    "arch.g_hidden=[32,32]",
    "arch.d_hidden=[32,32]",
    "trainer.batch_size=32",
    "trainer.sample_every=0",
    "trainer.progress=false",
    "metrics.toy_samples=200",
    "device=cpu",
]


@contextlib.contextmanager
def one_thread():
    """In-process runs on one intra-op thread (see gan_env), restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def compose_train(overrides: list[str]):
    from hydra import compose, initialize_config_dir

    from gan_cli.apps import register_resolvers
    from gan_cli.cli import config_dir
    from gan_cli.config import register_configs

    register_configs()
    register_resolvers()
    with initialize_config_dir(config_dir=config_dir(), version_base=None):
        return compose("train", overrides=overrides)


def gan_command(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "gan_cli.cli", *args]


def gan_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    # Tiny runs gain nothing from intra-op threads, and on a busy machine idle-spinning OpenMP
    # threads make them many times slower.
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


def run_gan(args: list[str], timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(gan_command(args), cwd=REPO, env=gan_env(**env), capture_output=True, text=True,
                          timeout=timeout)


def state_differences(a: Path, b: Path) -> list[str]:
    return ckpt_io.state_differences(ckpt_io.safe_load(a), ckpt_io.safe_load(b))
