"""Pictures of what a generator draws: image grids, PNG files, or scatter plots over the true mixture."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from gan_cli.data import to_uint8


def write_png(image: torch.Tensor, path: str | Path) -> None:
    """One uint8 image (C, H, W), grey (C = 1) or RGB, as a PNG file: the one PNG writer."""
    from PIL import Image

    array = image.permute(1, 2, 0).cpu().numpy()
    Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array).save(path)


def write_pngs(folder: Path, batches) -> None:
    """One PNG per image of (uint8 images, labels or None) batches: folder/000000.png, ..., or
    000000_class3.png when there are labels (`gan sample` into a folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    i = 0
    for x, y in batches:
        for k, image in enumerate(x):
            suffix = "" if y is None else f"_class{int(y[k])}"
            write_png(image, folder / f"{i:06d}{suffix}.png")
            i += 1


def save_image_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None) -> None:
    """images: float in [-1, 1], (N, C, H, W)."""
    from torchvision.utils import make_grid  # imported here: torchvision takes seconds to import

    nrow = nrow or max(1, int(math.sqrt(len(images))))
    grid = make_grid(to_uint8(images).cpu(), nrow=nrow, padding=2, pad_value=255)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_png(grid, path)


def save_scatter(points: torch.Tensor, means: torch.Tensor, std: float, path: str | Path, title: str = "") -> None:
    """Generated points over the mixture's modes (3-std circles mark 'high quality')."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points, means = points.detach().float().cpu().numpy(), means.cpu().numpy()
    span = float(abs(means).max()) + 1.0
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.4, color="tab:blue", label="generated")
    for mx, my in means:
        ax.add_patch(plt.Circle((mx, my), 3 * std, fill=False, color="tab:red", lw=0.8))
    ax.scatter(means[:, 0], means[:, 1], s=12, marker="x", color="tab:red", label="modes")
    ax.set_xlim(-span, span)
    ax.set_ylim(-span, span)
    ax.set_aspect("equal")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=7)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
