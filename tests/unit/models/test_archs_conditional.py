"""Class-conditional GANs: labels for sampling, one row per class in the grids, and a conditional
Fashion-MNIST run whose checkpoint samples a chosen class to a folder of PNGs."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from gan_cli.checkpoint import safe_load
from gan_cli.data import to_uint8
from gan_cli.errors import GanError
from gan_cli.generation import class_labels, load_generator, per_class_labels
from gan_cli.samples import write_pngs
from gan_cli.trainer import Trainer
from tests.helpers import (
    make_cfg,
    sample_class,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def test_class_labels():
    assert class_labels(3, 10, 7).tolist() == [7, 7, 7]
    assert class_labels(3, 0) is None
    labels = class_labels(500, 4, generator=torch.Generator().manual_seed(0))
    assert set(labels.tolist()) == {0, 1, 2, 3}
    with pytest.raises(GanError, match="0..9"):
        class_labels(3, 10, 10)
    with pytest.raises(GanError, match="unconditional"):
        class_labels(3, 0, 2)


def test_per_class_labels_one_row_per_class():
    labels, per_class = per_class_labels(64, 10)
    assert per_class == 6 and labels.tolist() == [c for c in range(10) for _ in range(6)]
    labels, per_class = per_class_labels(8, 100)  # more classes than samples: the first 8, once each
    assert per_class == 1 and labels.tolist() == list(range(8))


@pytest.mark.parametrize("arch", ["dcgan", "resnet"])
def test_conditional_fashion_mnist_samples_a_chosen_class(tmp_path, arch):
    run = tmp_path / "run"
    cfg = make_cfg([
        f"arch={arch}", "arch.width=2", "arch.z_dim=8", "dataset.conditional=true", "dataset.limit=40",
        "trainer.steps=2", "trainer.batch_size=4", "trainer.num_samples=20", "trainer.log_every=1",
        "metrics=none", "trainer.progress=false", "device=cpu", "tricks=[ema]",
    ])
    assert Trainer(cfg, run).fit()["status"] == "finished"
    # the grid: 20 samples of 10 classes -> one row per class, 2 per row; 28x28 tiles, 2-pixel padding
    assert Image.open(run / "samples" / "final.png").size == (2 * 30 + 2, 10 * 30 + 2)

    G, spec, num_classes = load_generator(safe_load(run / "checkpoints" / "final.pt"))
    assert num_classes == 10 and spec.shape == (1, 28, 28)
    x, y = sample_class(G, 5, num_classes, class_id=3, seed=1)
    assert y.tolist() == [3] * 5 and x.shape == (5, 1, 28, 28)
    write_pngs(tmp_path / "class3", [(to_uint8(x), y)])
    paths = sorted((tmp_path / "class3").glob("*.png"))
    assert len(paths) == 5 and all(Image.open(p).size == (28, 28) and Image.open(p).mode == "L" for p in paths)
    again, _ = sample_class(G, 5, num_classes, class_id=3, seed=1)
    assert torch.equal(x, again)  # same seed, same samples
    other, _ = sample_class(G, 5, num_classes, class_id=4, seed=1)
    assert not torch.allclose(x, other)  # same noise, another class: another image


def test_unconditional_dataset_refuses_conditional(tmp_path):
    from tests.helpers import write_png_folder

    folder = write_png_folder(tmp_path / "images", 4, [(32, 32)])
    cfg = make_cfg(["dataset=folder", f"dataset.root={folder}", "dataset.resolution=32", "arch=resnet",
                    "dataset.conditional=true", "trainer.batch_size=4", "device=cpu"])
    with pytest.raises(GanError, match="no class labels"):
        Trainer(cfg, tmp_path / "run")
