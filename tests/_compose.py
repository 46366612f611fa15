"""Compose `gan train` configs in-process (no subprocess start-up) and run tiny trainings."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir

from gan_cli.apps import register_resolvers
from gan_cli.config import register_configs

CONF = str(Path(__file__).resolve().parents[1] / "conf")

# A few steps on the ring with the MLP: seconds, no samples or periodic checkpoints.
TINY_RING = [
    "dataset=ring", "arch=mlp", "arch.g_hidden=[16,16]", "arch.d_hidden=[16,16]", "trainer.steps=3",
    "trainer.batch_size=8", "trainer.log_every=3", "trainer.sample_every=0", "trainer.checkpoint_every=0",
    "trainer.progress=false", "metrics=none", "device=cpu",
]


def compose_train(overrides: list[str]):
    register_configs()
    register_resolvers()
    with initialize_config_dir(config_dir=CONF, version_base=None):
        return compose("train", overrides=list(overrides))


def train(overrides: list[str], run_dir) -> dict:
    from gan_cli.trainer import Trainer

    return Trainer(compose_train(overrides), run_dir).fit()
