"""Helpers for the loss and trick tests: a few training steps of a tiny MLP on the ring, in-process
(no subprocess start-up)."""

from __future__ import annotations

from tests.conftest import make_cfg

# Three steps of 16-unit MLPs on the ring: well under a second, no samples or periodic checkpoints.
TINY_MLP_RING = [
    "dataset=ring", "arch=mlp", "arch.g_hidden=[16,16]", "arch.d_hidden=[16,16]", "trainer.steps=3",
    "trainer.batch_size=8", "trainer.log_every=3", "trainer.sample_every=0", "trainer.checkpoint_every=0",
    "trainer.progress=false", "metrics=none", "metrics.toy_samples=200", "device=cpu",
]


def train(overrides: list[str], run_dir) -> dict:
    from gan_cli.trainer import Trainer

    return Trainer(make_cfg(overrides), run_dir).fit()
