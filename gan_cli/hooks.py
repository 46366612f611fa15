"""What the loop does after a step besides training: sample grids, evaluations, checkpoints.

A hook's `after_step(step)` runs after every step, once the step's log row is written, in the
order the trainer lists its hooks (detectron2's HookBase, reduced to what the loop needs). Each
keeps its own state: the grids their fixed noise, the checkpoints the last one written. The end
of the run is not a hook's step: the trainer's `_finish` asks them for the final grid, checkpoint
and scores, once, and a run stopped by a signal asks for a checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from gan_cli import distributed
from gan_cli.divergence import first_nonfinite
from gan_cli.generation import generate, per_class_labels, prepare_eval
from gan_cli.metrics.scores import evaluate_generator
from gan_cli.samples import save_image_grid, save_scatter

# The grids' noise has its own seed, derived from the run seed: drawing it never moves the training RNG.
FIXED_NOISE_SEED_OFFSET = 2_000_003


class Hook:
    def after_step(self, step: int) -> None:
        """`step`: the generator updates done."""


class Every(Hook):
    """`run(step)` every `every` steps (0: never), except at step `steps`, the run's last: the end
    of the run does that work itself, once."""

    def __init__(self, every: int, steps: int):
        self.every, self.steps = every, steps

    def after_step(self, step: int) -> None:
        if self.every and step % self.every == 0 and step < self.steps:
            self.run(step)

    def run(self, step: int) -> None:
        raise NotImplementedError


class SampleGrids(Every):
    """samples/step_NNNNNNN.png every `trainer.sample_every` steps and samples/final.png, from the
    same noise (and classes: one row per class) all run long; a scatter plot for 2-D data."""

    def __init__(self, nets, spec, run_log, run_dir: Path, device: torch.device, seed: int, num_samples: int,
                 every: int, steps: int):
        super().__init__(every, steps)
        self.nets, self.spec, self.run_log, self.device = nets, spec, run_log, device
        self.folder = run_dir / "samples"
        gen = torch.Generator().manual_seed(seed + FIXED_NOISE_SEED_OFFSET)
        n_fixed = 2500 if spec.kind == "toy" else num_samples
        self.z = torch.randn(n_fixed, nets.G.z_dim, generator=gen).to(device)
        self.y, self.per_class = None, 0
        if nets.num_classes:
            self.y, self.per_class = per_class_labels(n_fixed, nets.num_classes)
            self.z, self.y = self.z[: len(self.y)], self.y.to(device)

    def run(self, step: int) -> None:
        self.save(f"step_{step:07d}", step)

    def save(self, name: str, step: int) -> None:
        if not distributed.is_main():
            return
        x = generate(prepare_eval(self.nets, self.device), self.z, self.y)
        path = self.folder / f"{name}.png"
        if self.spec.kind == "toy":
            save_scatter(x, self.spec.toy_means, self.spec.toy_std, path, title=f"{self.spec.name}, step {step}")
        else:
            save_image_grid(x, path, nrow=self.per_class if self.per_class > 1 else None)
        self.run_log.logger.samples(step, path)


class Evaluation(Every):
    """The scores (gan_cli/metrics) every `trainer.eval_every` steps and at the end, into
    scores.jsonl and the loggers; `report(step, scores)` shows a periodic one as training goes."""

    def __init__(self, nets, spec, cfg, run_log, device: torch.device, every: int, steps: int):
        super().__init__(every, steps)
        self.nets, self.spec, self.cfg, self.run_log, self.device = nets, spec, cfg, run_log, device
        self.report: Callable[[int, dict], object] = lambda step, scores: None  # set by the loop: its progress line

    def run(self, step: int) -> None:
        self.report(step, self.evaluate(step, final=False))

    def evaluate(self, step: int, final: bool) -> dict:
        if not distributed.is_main():
            return {}
        G = prepare_eval(self.nets, self.device)
        scores = evaluate_generator(G, self.spec, self.cfg, self.device, self.nets.num_classes)
        if scores:
            self.run_log.scores(step, final, scores)
        return scores


class Checkpoints(Every):
    """checkpoints/step_NNNNNNN.pt every `trainer.checkpoint_every` steps (the last `keep` kept),
    final.pt at the end (gan_cli/train_state.py). `last`: the latest written, or the one a resumed
    run was loaded from, named when the run diverges. With `diverged` given (the trainer's, when
    it watches its losses), a loss sum gone non-finite since the last check stops the run before a
    write, leaving the last good checkpoint as it is."""

    def __init__(self, state, folder: Path, keep: int, every: int, steps: int,
                 diverged: Callable[[int], object] | None = None):
        super().__init__(every, steps)
        self.state, self.folder, self.keep, self.diverged = state, folder, keep, diverged
        self.last: Path | None = None

    def run(self, step: int) -> None:
        self.save()

    def save(self, final: bool = False) -> Path:
        if self.diverged is not None and first_nonfinite(list(self.state.run_log.sums.items())):
            self.diverged(self.state.step)
        self.last = self.state.save(self.folder, final, self.keep, self.last)
        return self.last
