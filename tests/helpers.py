"""The tests' one helpers module: tiny runs, the CLI in this process or in a subprocess, fake
datasets written in their real file formats, and images for the Inception tests. Shared pytest
fixtures live in conftest.py.

The tiny-run preset is `TINY_RING` (a ring run a fraction of a second per ten steps on one core);
`TINY_MLP_RING` is the same preset cut to three in-process steps of 16-unit MLPs for the loss and
trick tests."""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gan_cli import checkpoint as ckpt_io
from tests.conftest import REPO, make_cfg, run_gan  # noqa: F401  (make_cfg: re-exported for the tests)

# ----------------------------------------------------------------------------- tiny runs
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


# The same preset cut to three in-process steps of 16-unit MLPs (well under a second): no samples,
# periodic checkpoints or scores.
TINY_MLP_RING = [
    *TINY_RING, "arch.g_hidden=[16,16]", "arch.d_hidden=[16,16]", "trainer.steps=3", "trainer.batch_size=8",
    "trainer.log_every=3", "trainer.checkpoint_every=0", "metrics=none",
]


def train(overrides: list[str], run_dir) -> dict:
    from gan_cli.trainer import Trainer

    return Trainer(make_cfg(overrides), run_dir).fit()

# ----------------------------------------------------------------------------- the cli
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

# ----------------------------------------------------------------------------- architectures, data and checkpoints
CONF = REPO / "conf"


def run_cli(args: list[str]) -> int:
    """`gan <args>` in this process; returns the exit code."""
    from gan_cli import cli

    try:
        cli.main(list(args))
    except SystemExit as e:
        return int(e.code or 0)
    return 0


def sample_class(G, n: int, num_classes: int, class_id: int | None = None, seed: int = 0, device="cpu",
                 batch: int = 500) -> tuple[torch.Tensor, torch.Tensor | None]:
    """n samples (float in [-1, 1] for images) of class `class_id` (or random classes), with the
    labels used; the same seed gives the same samples."""
    from gan_cli.generation import class_labels, generate

    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, G.z_dim, generator=gen)
    y = class_labels(n, num_classes, class_id, gen)
    x = generate(G, z.to(device), None if y is None else y.to(device), batch)
    return x, y


def loss_available(name: str) -> bool:
    return (CONF / "loss" / f"{name}.yaml").is_file()


def blobs(n: int, h: int, w: int, seed: int) -> np.ndarray:
    """n RGB uint8 images (h, w, 3) with a coloured square on noise: cheap, varied content."""
    rng = np.random.default_rng(seed)
    out = rng.integers(0, 60, size=(n, h, w, 3), dtype=np.uint8)
    for img in out:
        s = max(1, min(h, w) // 3)
        y, x = rng.integers(0, h - s + 1), rng.integers(0, w - s + 1)
        img[y : y + s, x : x + s] = rng.integers(100, 256, size=3, dtype=np.uint8)
    return out


def write_png_folder(folder: Path, n: int, sizes: list[tuple[int, int]], seed: int = 0, suffix: str = ".png") -> Path:
    """n images cycling through `sizes` (width, height): non-square sizes test crop/pad."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        w, h = sizes[i % len(sizes)]
        Image.fromarray(blobs(1, h, w, seed + i)[0]).save(folder / f"img_{i:04d}{suffix}")
    return folder


def write_fake_cifar10(root: Path, per_batch: int = 8) -> Path:
    """cifar-10-batches-py/ with data_batch_1..5 and test_batch in the published pickle format."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        images = blobs(per_batch, 32, 32, 100 + i).transpose(0, 3, 1, 2).reshape(per_batch, 3072)
        batch = {b"data": images, b"labels": [int(v) for v in np.arange(per_batch) % 10]}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    return root


def write_fake_celeba(root: Path, n: int = 12) -> Path:
    """celeba/img_align_celeba/*.jpg at CelebA's 178x218 plus list_eval_partition.txt."""
    folder = write_png_folder(root / "celeba" / "img_align_celeba", n, [(178, 218)], seed=7, suffix=".jpg")
    lines = [f"{p.name} {i % 3}" for i, p in enumerate(sorted(folder.iterdir()))]
    (root / "celeba" / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    return root


def tiny_folder_overrides(folder: Path, run_dir: Path, steps: int, arch: list[str]) -> list[str]:
    """A few steps of `arch` on a folder of 32x32 images: CPU, no scores, one log row per step."""
    return ["dataset=folder", f"dataset.root={folder}", "dataset.resolution=32", *arch, f"trainer.steps={steps}",
            "trainer.batch_size=4", "trainer.log_every=1", "trainer.num_samples=4", "trainer.sample_every=0",
            "trainer.checkpoint_every=0", "metrics=none", "trainer.progress=false", "device=cpu",
            f"hydra.run.dir={run_dir}"]


def assert_cli_resume_is_bit_identical(tmp_path: Path, arch: list[str], steps: int = 4) -> Path:
    """`gan train` straight to `steps`, and stopped half-way then resumed: the final checkpoints
    (networks, optimizers, tricks' state, RNG) are equal bit for bit. Returns the straight run."""
    from gan_cli.checkpoint import safe_load, state_differences

    folder = write_png_folder(tmp_path / "images", 8, [(32, 32)])
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert run_cli(["train", *tiny_folder_overrides(folder, straight, steps, arch)]) == 0
    assert run_cli(["train", *tiny_folder_overrides(folder, split, steps // 2, arch)]) == 0
    assert run_cli(["train", f"resume={split}", f"trainer.steps={steps}"]) == 0
    a, b = safe_load(straight / "checkpoints" / "final.pt"), safe_load(split / "checkpoints" / "final.pt")
    assert state_differences(a, b) == []
    return straight


@contextlib.contextmanager
def nudged(module: torch.nn.Module, name: str, by: float = 0.1):
    """The named parameter's first element moved by `by` inside the block, restored after: the
    equality tests must fail when one weight is off."""
    p = dict(module.named_parameters())[name]
    before = p.detach().clone()
    try:
        with torch.no_grad():
            p.view(-1)[0] += by
        yield
    finally:
        with torch.no_grad():
            p.copy_(before)

# ----------------------------------------------------------------------------- images for the inception tests
def smooth_images(n: int, seed: int, size: int = 16, coarse: int = 4, shift: float = 0.0) -> torch.Tensor:
    """uint8 (n, 3, size, size): coarse noise upsampled, a little fine noise, optionally brightened."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, coarse, coarse, generator=gen)
    x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False)
    x = x + 0.15 * torch.rand(n, 3, size, size, generator=gen) + shift
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)
