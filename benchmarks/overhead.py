"""Our training loop against a bare PyTorch loop doing the same work.

Two cases: the DCGAN on Fashion-MNIST and the MLP on the ring. Both loops use the very same
networks (built by gan's builders, same init), the NS loss, Adam 2e-4 (0.5, 0.999), the same
batch size and the data held on the device as one tensor. The bare loop is PyTorch's DCGAN
example: one G forward reused for both players, BCE losses, no logging. Ours is `Trainer.fit`,
everything included: logging every `log_every` steps, the progress bookkeeping, the divergence
watch. Sampling, checkpoints and scoring are switched off in both (they are not the step).

Each repeat times `--steps` steps after a warm-up, or more where that takes under `--seconds`,
of ours and then of the bare loop; the overhead of a case is the median over repeats of the
ratio ours / bare (the ratio of the two medians is printed too). The last line printed is a JSON object:
{"overhead": max over cases of the median ours/bare time per step, "cases": {...images/s of each...}}.

    python benchmarks/overhead.py [--steps 200] [--repeats 9] [--seconds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir

from gan_cli.apps import register_resolvers
from gan_cli.cli import config_dir
from gan_cli.config import register_configs
from gan_cli.trainer import Trainer

CASES = {
    # the DCGAN paper's net (width 64, unconditional): the default recipe's conditional w32 is
    # in benchmarks/throughput.py
    "dcgan_fashion_mnist": ["dataset=fashion_mnist", "arch=dcgan", "loss=ns", "tricks=[]", "arch.width=64",
                            "dataset.conditional=false", "optim.g.lr=2e-4", "optim.d.lr=2e-4"],
    "mlp_ring": ["dataset=ring", "arch=mlp", "loss=ns", "tricks=[]"],
}
COMMON = ["metrics=none", "trainer.batch_size=64", "trainer.sample_every=0", "trainer.checkpoint_every=0",
          "trainer.eval_every=0", "trainer.progress=false", "trainer.log_every=50", "trainer.max_minutes=null"]


def make_trainer(overrides: list[str], run_dir: Path, device: str = "cpu") -> Trainer:
    with initialize_config_dir(config_dir=config_dir(), version_base=None):
        cfg = compose("train", overrides=overrides + COMMON + [f"device={device}"])
    return Trainer(cfg, run_dir)


def time_ours(trainer: Trainer, steps: int) -> float:
    """Seconds per step of `Trainer.fit` over `steps` more steps (the end-of-run work excluded)."""
    finish = trainer._finish
    trainer._finish = lambda: {}  # samples, final checkpoint and scores are not the step
    try:
        trainer.cfg.trainer.steps = trainer.step + steps
        start = time.perf_counter()
        trainer.fit()
        return (time.perf_counter() - start) / steps
    finally:
        trainer._finish = finish


class BareLoop:
    """PyTorch's DCGAN example on the same networks and data."""

    def __init__(self, trainer: Trainer):
        import copy

        self.G = copy.deepcopy(trainer.G).requires_grad_(True)
        self.D = copy.deepcopy(trainer.D).requires_grad_(True)  # ours leaves D frozen after its G phase
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.batch = trainer.cfg.trainer.batch_size
        self.z_dim = trainer.G.z_dim
        data = trainer.data
        self.images = getattr(data, "images", None)
        self.mixture = None if self.images is not None else data
        self.generator = torch.Generator().manual_seed(0)

    def real_batch(self) -> torch.Tensor:
        if self.mixture is not None:
            return self.mixture.sample(self.batch, self.generator)[0]
        idx = torch.randint(len(self.images), (self.batch,), generator=self.generator)
        return self.images[idx].float().div_(127.5).sub_(1.0)

    def step(self) -> None:
        real = self.real_batch()
        fake = self.G(torch.randn(self.batch, self.z_dim))
        self.opt_d.zero_grad()
        l_real, l_fake = self.D(real), self.D(fake.detach())
        loss_d = F.binary_cross_entropy_with_logits(l_real, torch.ones_like(l_real)) + \
            F.binary_cross_entropy_with_logits(l_fake, torch.zeros_like(l_fake))
        loss_d.backward()
        self.opt_d.step()
        self.opt_g.zero_grad()
        l_gen = self.D(fake)
        F.binary_cross_entropy_with_logits(l_gen, torch.ones_like(l_gen)).backward()
        self.opt_g.step()

    def time(self, steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            self.step()
        return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--seconds", type=float, default=3.0, help="least duration of one repeat")
    parser.add_argument("--cases", nargs="*", default=list(CASES))
    args = parser.parse_args()
    register_configs()
    register_resolvers()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.cases:
            trainer = make_trainer(CASES[name], Path(tmp) / name)
            time_ours(trainer, 20)  # warm-up
            bare = BareLoop(trainer)
            # Repeats of at least --seconds each: a 3 ms step (the MLP) timed over 200 steps is
            # at the mercy of this shared machine's noise and of fit()'s fixed start-up cost.
            steps = max(args.steps, int(args.seconds / bare.time(20)))
            ours_t, bare_t = [], []
            for _ in range(args.repeats):
                ours_t.append(time_ours(trainer, steps))
                bare_t.append(bare.time(steps))
            ours, bare_s = statistics.median(ours_t), statistics.median(bare_t)
            # Each repeat times ours then bare back to back: their ratio cancels the drifts in this
            # shared machine's speed (medians alone moved by 10-20 % between identical runs here).
            ratio = statistics.median(o / b for o, b in zip(ours_t, bare_t))
            batch = trainer.cfg.trainer.batch_size
            results[name] = {
                "ours_images_per_s": round(batch / ours, 1),
                "bare_images_per_s": round(batch / bare_s, 1),
                "ratio": round(ratio, 4),
                "ratio_of_medians": round(ours / bare_s, 4),
                "steps_per_repeat": steps,
                "ours_ms_per_step": [round(1000 * t, 2) for t in ours_t],
                "bare_ms_per_step": [round(1000 * t, 2) for t in bare_t],
            }
            print(f"{name}: ours {results[name]['ours_images_per_s']} img/s, bare {results[name]['bare_images_per_s']} "
                  f"img/s, ours/bare time {results[name]['ratio']}", flush=True)
    summary = {
        "overhead": max(r["ratio"] for r in results.values()),
        "threads": torch.get_num_threads(),
        "repeats": args.repeats,
        "cases": results,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
