"""Helpers for the architecture tests: config composition, in-process CLI runs, and small fake
datasets written in their real file formats (PNG/JPEG folders, CIFAR-10 pickles, CelebA)."""

from __future__ import annotations

import contextlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import make_cfg  # noqa: F401  (re-exported for the architecture tests)

CONF = Path(__file__).resolve().parent.parent / "conf"


@pytest.fixture
def one_thread():
    """These tests run networks a few channels wide, where intra-op threads cost more than they
    save (3-15x slower on a loaded 2-core machine): one thread for the test, then restored."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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


def tree_equal(a, b, path: str = "") -> list[str]:
    """Paths where two checkpoint trees differ (tensors compared bit for bit)."""
    if isinstance(a, torch.Tensor):
        same = isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
        return [] if same else [path]
    if isinstance(a, dict):
        if not isinstance(b, dict) or set(a) != set(b):
            return [path + " (keys)"]
        return [p for k in a for p in tree_equal(a[k], b[k], f"{path}/{k}")]
    if isinstance(a, (list, tuple)):
        if not isinstance(b, (list, tuple)) or len(a) != len(b):
            return [path + " (length)"]
        return [p for i, (x, y) in enumerate(zip(a, b)) for p in tree_equal(x, y, f"{path}/{i}")]
    return [] if a == b else [path]


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
