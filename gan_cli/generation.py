"""Drawing from a generator: class labels, batched eval-mode generation, and a generator loaded
back from a checkpoint. What sample grids, `gan sample` (label=K) and `gan eval` share, and the
training run's generator made ready for its grids and scores (`prepare_eval`).

Every generator is called as G(z, y): y is None for unconditional models and a LongTensor of
class indices for class-conditional ones (dataset.conditional=true).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

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


def generate_batches(G: nn.Module, inputs: Iterable, device: torch.device | str) -> Iterator:
    """(G(z, y) as float32, y) for each (z, y) of `inputs` (y None when unconditional), under
    inference mode with G in eval mode, restored once the batches are done. The one road from G
    to samples: sample grids, `gan sample` and the scores all draw through here."""
    was_training = G.training
    G.eval()
    try:
        for z, y in inputs:
            with torch.inference_mode():
                out = G(z.to(device), None if y is None else y.to(device)).float()
            yield out, y
    finally:
        G.train(was_training)


def generate(G: nn.Module, z: torch.Tensor, y: torch.Tensor | None = None, batch: int = 500) -> torch.Tensor:
    """G(z, y) for all of z at once (the fixed noise of the sample grids), `batch` at a time."""
    labels = [None] * len(z.split(batch)) if y is None else y.split(batch)
    return torch.cat([x for x, _ in generate_batches(G, zip(z.split(batch), labels), z.device)])


def prepare_eval(nets, device: torch.device) -> nn.Module:
    """The run's generator for samples and scores (`Networks.G_eval`), once the tricks have brought
    it up to date (EMA: its own batch-norm statistics, from latents of their own seeded stream)."""
    def latent(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        z = torch.randn(n, nets.G.z_dim, device=device, generator=gen)
        y = torch.randint(nets.num_classes, (n,), device=device, generator=gen) if nets.num_classes else None
        return z, y

    for trick in nets.tricks:
        trick.prepare_eval(latent)
    return nets.G_eval


def load_generator(checkpoint: dict, device: torch.device | str = "cpu", ema: bool = True):
    """(G, data spec, number of classes) from a loaded checkpoint (checkpoint.safe_load): the EMA
    generator when the run kept one and `ema`, else the trained G."""
    from gan_cli.build import build_networks
    from gan_cli.data import DataSpec
    from gan_cli.run_config import run_config

    cfg = run_config(checkpoint)
    spec = DataSpec.from_state(checkpoint["data_spec"])
    nets = build_networks(cfg, spec, device)
    nets.G.load_state_dict(checkpoint["G"])
    for trick in nets.tricks:
        trick.load_state_dict(checkpoint["tricks"].get(trick.name, {}))
    G = nets.G_eval if ema else nets.G
    return G.eval(), spec, nets.num_classes
