"""Shared fixtures: compose configs in-process, run the CLI in a subprocess, write tiny datasets
in their real file formats."""

from __future__ import annotations

import gzip
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from gan_cli.apps import register_resolvers
from gan_cli.cli import config_dir
from gan_cli.config import register_configs

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _registered():
    register_configs()
    register_resolvers()


@pytest.fixture(autouse=True)
def _private_caches(tmp_path_factory, monkeypatch):
    """Tests never see the user's stored classifiers, reference statistics or Inception weights,
    nor the classifiers shipped in gan_cli/assets unless they ask for them (`shipped_assets`):
    with them, any run with the default metrics would score 10k samples at its end."""
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("GAN_CACHE", str(base / "gan_cache"))
    monkeypatch.setenv("TORCH_HOME", str(base / "torch_home"))
    monkeypatch.setenv("GAN_ASSETS", str(base / "no_assets"))


@pytest.fixture
def shipped_assets(monkeypatch) -> Path:
    """The package's own gan_cli/assets, as an installed `gan` sees them."""
    monkeypatch.delenv("GAN_ASSETS")
    return REPO / "gan_cli" / "assets"


def make_cfg(overrides: list[str] | None = None, config_name: str = "train"):
    """The config `gan <config_name> overrides...` would run with (no Hydra run folder)."""
    with initialize_config_dir(config_dir=config_dir(), version_base=None):
        return compose(config_name, overrides=list(overrides or []))


@pytest.fixture
def cfg_factory():
    return make_cfg


def run_gan(*args: str, cwd: Path, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """`gan ARGS` in a subprocess, running this checkout's code."""
    environment = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    environment.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run([sys.executable, "-m", "gan_cli.cli", *args], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def gan():
    return run_gan


def write_idx(path: Path, array: np.ndarray, gz: bool = True) -> None:
    """Write an unsigned-byte IDX file (the MNIST format), gzipped like the published files."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        with gzip.open(path.with_name(path.name + ".gz"), "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


@pytest.fixture
def idx_root(tmp_path) -> Path:
    """A tiny Fashion-MNIST-format dataset (train and test) in torchvision's folder layout."""
    rng = np.random.default_rng(0)
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    for split, n in (("train", 96), ("t10k", 32)):
        write_idx(raw / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        write_idx(raw / f"{split}-labels-idx1-ubyte", rng.integers(0, 10, (n,)))
    return tmp_path / "data"


@pytest.fixture(scope="session")
def ring_sweep(tmp_path_factory) -> Path:
    """A real tiny sweep, run once per session for the report's tests: 2 losses x 2 seeds on ring,
    10 steps, evaluated (modes) and sampled at steps 5 and 10; TensorBoard logs when installed."""
    import importlib.util

    base = tmp_path_factory.mktemp("ring_sweep")
    sweep = base / "sweep"
    tensorboard = importlib.util.find_spec("tensorboard") is not None
    result = run_gan("train", "--multirun", "experiment=ring", "loss=ns,minimax", "seed=0,1", "trainer.steps=10",
                     "trainer.log_every=5", "trainer.eval_every=5", "trainer.sample_every=5", "trainer.progress=false",
                     *(["logger=tensorboard"] if tensorboard else []), f"hydra.sweep.dir={sweep}", cwd=base)
    assert result.returncode == 0, result.stderr[-2000:]
    (sweep / "train.out").write_text(result.stdout + result.stderr)
    return sweep


@pytest.fixture
def one_thread():
    """These tests run networks a few channels wide, where intra-op threads cost more than they
    save (3-15x slower on a loaded 2-core machine): one thread for the test, then restored."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
