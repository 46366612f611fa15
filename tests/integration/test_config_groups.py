"""Every option of every config group composes and builds.

For each YAML file under conf/<group>/ (dataset, arch, loss, optim, tricks, trainer, metrics,
experiment) `gan train <group>=<option>` is composed as the CLI would, checked by the schema and
the ranges, and then built by the same pre-run checks a run makes (gan_cli/preflight.py): the
data found and read, the optimizers, the loggers, and the networks with their loss and tricks, on
PyTorch's meta device so no weight is allocated. The data sets are tiny fakes in their real file
formats, so nothing is downloaded. A new option is covered by adding its file.

Some options only make sense beside others (`NEEDS` below; path_length and orthogonal name their
arch themselves, `Trick.arch`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gan_cli.cli import config_dir
from gan_cli.config_ranges import check_ranges
from gan_cli.preflight import TrainPreflight
from gan_cli.tricks import TRICKS
from tests.conftest import make_cfg, write_idx
from tests.helpers import write_fake_celeba, write_fake_cifar10, write_png_folder

CONF = Path(config_dir())
GROUPS = ("dataset", "arch", "loss", "optim", "tricks", "trainer", "metrics", "experiment")
# 2-D mixtures are generated; image data sets read files (written below in their real formats)
GENERATED = ("ring", "grid")


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


CASES = [(group, option) for group in GROUPS for option in options(group)]


@pytest.fixture(scope="module")
def data_roots(tmp_path_factory) -> dict[str, Path]:
    """dataset name -> a `dataset.root` holding a tiny copy of it."""
    base = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    for folder in ("MNIST", "FashionMNIST"):
        for split, n in (("train", 64), ("t10k", 16)):
            write_idx(base / "idx" / folder / "raw" / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
            write_idx(base / "idx" / folder / "raw" / f"{split}-labels-idx1-ubyte", rng.integers(0, 10, (n,)))
    return {
        "mnist": base / "idx",
        "fashion_mnist": base / "idx",
        "cifar10": write_fake_cifar10(base / "cifar"),
        "celeba": write_fake_celeba(base / "celeba"),
        "folder": write_png_folder(base / "folder", 8, [(40, 32), (32, 40)]),
    }


# What an option needs beside it that the default run does not give, each refused in one line
# without it (tests/integration/test_errors.py): 2-D points need an MLP; the growing and
# style-based nets a power-of-two side (Fashion-MNIST's is 28); PacGAN's packs would mix the
# default recipe's class labels.
NEEDS = {
    ("dataset", "ring"): ["arch=mlp"],
    ("dataset", "grid"): ["arch=mlp"],
    ("tricks", "pack"): ["dataset.conditional=false"],
}
POWER_OF_TWO = ["dataset.resolution=32"]


def command_line(group: str, option: str) -> list[str]:
    """`gan train <group>=<option>` and what it needs beside it."""
    if group == "tricks":
        # a trick tied to one arch names it itself (Trick.arch); tricks/<file> may be a tuned
        # variant of a trick (r1_toy), whose node is the trick's own
        partner = getattr(TRICKS.get(option), "arch", None)
        line = [f"tricks=[{option}]", *([f"arch={partner}", *POWER_OF_TWO] if partner else [])]
    else:
        line = [f"{group}={option}", *(POWER_OF_TWO if group == "arch" else [])]
    return [*line, *NEEDS.get((group, option), [])]


def with_data(cfg_line: list[str], roots: dict[str, Path]) -> list[str]:
    """The composed run's dataset pointed at its fake copy, downloads off (nothing leaves the machine)."""
    name = make_cfg(cfg_line).dataset.name
    if name in GENERATED:
        return cfg_line
    return [*cfg_line, f"dataset.root={roots[name]}", "dataset.download=false"]


@pytest.mark.parametrize(("group", "option"), CASES, ids=[f"{g}={o}" for g, o in CASES])
def test_every_option_of_every_group_composes_and_builds(group, option, data_roots):
    overrides = with_data(command_line(group, option), data_roots)
    cfg = make_cfg(overrides)
    check_ranges(cfg)
    TrainPreflight(fetch_data=True).check(cfg)


def test_every_group_has_options_and_every_trick_file_names_a_trick():
    assert all(options(group) for group in GROUPS)
    for option in options("tricks"):
        node = make_cfg([f"tricks=[{option}]"]).tricks
        chosen = [name for name, value in node.items() if value is not None]
        assert chosen and set(chosen) <= set(TRICKS), option
