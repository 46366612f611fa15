"""Pictures of what a generator draws: image grids, or scatter plots over the true mixture."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from gan_cli.data import to_uint8


def save_image_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None) -> None:
    """images: float in [-1, 1], (N, C, H, W)."""
    from PIL import Image
    from torchvision.utils import make_grid  # imported here: torchvision takes seconds to import

    nrow = nrow or max(1, int(math.sqrt(len(images))))
    grid = make_grid(to_uint8(images).cpu(), nrow=nrow, padding=2, pad_value=255)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    array = grid.permute(1, 2, 0).numpy()
    Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array).save(path)


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
