"""Drawing from a generator: class labels, batched eval-mode generation, and a generator loaded
back from a checkpoint. What sample grids, `gan sample` (class=K) and `gan eval` share.

Every generator is called as G(z, y): y is None for unconditional models and a LongTensor of
class indices for class-conditional ones (dataset.conditional=true).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from gan_cli.errors import GanError


def class_labels(n: int, num_classes: int, class_id: int | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor | None:
    """Labels for n samples: all `class_id`, or uniformly random classes; None when unconditional."""
    if not num_classes:
        if class_id is not None:
            raise GanError(f"class={class_id} but this model is unconditional: train it with dataset.conditional=true")
        return None
    if class_id is None:
        return torch.randint(num_classes, (n,), generator=generator)
    if not 0 <= class_id < num_classes:
        raise GanError(f"class={class_id} is out of range: this model has classes 0..{num_classes - 1}")
    return torch.full((n,), int(class_id), dtype=torch.long)


def per_class_labels(n: int, num_classes: int) -> tuple[torch.Tensor, int]:
    """Labels for a grid with one row per class: (labels, samples per class). With more classes
    than samples, the first n classes once each."""
    per_class = max(1, n // num_classes)
    shown = min(num_classes, n // per_class)
    return torch.arange(shown).repeat_interleave(per_class), per_class


@torch.no_grad()
def generate(G: nn.Module, z: torch.Tensor, y: torch.Tensor | None = None, batch: int = 500) -> torch.Tensor:
    """G(z, y) in eval mode, in batches, as float32 (G's mode is restored afterwards)."""
    was_training = G.training
    G.eval()
    try:
        out = [G(zc, None if y is None else y[i : i + batch].to(zc.device)).float()
               for i, zc in zip(range(0, len(z), batch), z.split(batch))]
    finally:
        G.train(was_training)
    return torch.cat(out)


def load_generator(checkpoint: dict, device: torch.device | str = "cpu", ema: bool = True):
    """(G, data spec, number of classes) from a loaded checkpoint (checkpoint.safe_load): the EMA
    generator when the run kept one and `ema`, else the trained G."""
    from gan_cli.build import build_networks, config_from_checkpoint
    from gan_cli.data import DataSpec

    cfg = config_from_checkpoint(checkpoint)
    spec = DataSpec.from_state(checkpoint["data_spec"])
    nets = build_networks(cfg, spec, device)
    nets.G.load_state_dict(checkpoint["G"])
    for trick in nets.tricks:
        trick.load_state_dict(checkpoint["tricks"].get(trick.name, {}))
    G = nets.G_eval if ema else nets.G
    return G.eval(), spec, nets.num_classes


def sample_class(G: nn.Module, n: int, num_classes: int, class_id: int | None = None, seed: int = 0,
                 device: torch.device | str = "cpu", batch: int = 500) -> tuple[torch.Tensor, torch.Tensor | None]:
    """n samples (float in [-1, 1] for images) of class `class_id` (or random classes), with the
    labels used; the same seed gives the same samples."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, G.z_dim, generator=gen)
    y = class_labels(n, num_classes, class_id, gen)
    x = generate(G, z.to(device), None if y is None else y.to(device), batch)
    return x, y


def save_png_folder(images: torch.Tensor, folder: str | Path, prefix: str = "") -> list[Path]:
    """One PNG per image (float in [-1, 1], (N, C, H, W)): folder/<prefix>000000.png, ..."""
    from PIL import Image

    from gan_cli.data import to_uint8

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = to_uint8(images).cpu().permute(0, 2, 3, 1).numpy()
    paths = []
    for i, array in enumerate(arrays):
        path = folder / f"{prefix}{i:06d}.png"
        Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array).save(path)
        paths.append(path)
    return paths
