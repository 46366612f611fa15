"""Datasets read from files in their real formats; resumable batch order; clear errors."""

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from gan_cli.config import DatasetConfig
from gan_cli.data import EpochOrder, MemoryBatches, ToyBatches, build_dataset, to_float, to_uint8
from gan_cli.data.images import read_idx
from gan_cli.data.toy2d import GaussianMixture, mixture_means
from gan_cli.errors import GanError
from tests.conftest import write_idx


def dataset_cfg(**kw):
    return OmegaConf.merge(OmegaConf.structured(DatasetConfig), kw)


def test_ring_and_grid_means_match_the_papers():
    ring = mixture_means("ring")
    assert ring.shape == (8, 2)
    assert torch.allclose(ring[2], torch.tensor([0.0, 1.0]), atol=1e-6)  # i=2: (cos pi/2, sin pi/2)
    assert torch.allclose(ring.norm(dim=1), torch.ones(8))
    grid = mixture_means("grid")
    assert grid.shape == (25, 2)
    assert set(grid[:, 0].tolist()) == {-4.0, -2.0, 0.0, 2.0, 4.0}


def test_mixture_samples_have_the_paper_std():
    data = GaussianMixture("grid")
    x, modes = data.sample(20000, torch.Generator().manual_seed(0))
    residual = x - data.means[modes]
    assert residual.std().item() == pytest.approx(0.05, rel=0.03)


def test_idx_roundtrip(tmp_path):
    array = np.arange(2 * 3 * 4).reshape(2, 3, 4) % 256
    write_idx(tmp_path / "x-idx3-ubyte", array, gz=False)
    assert (read_idx(tmp_path / "x-idx3-ubyte") == array).all()
    write_idx(tmp_path / "y-idx3-ubyte", array, gz=True)
    assert (read_idx(tmp_path / "y-idx3-ubyte.gz") == array).all()


def test_truncated_idx_is_one_clear_error(tmp_path):
    write_idx(tmp_path / "x-idx3-ubyte", np.zeros((4, 28, 28)), gz=False)
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(GanError, match="truncated"):
        read_idx(path)


def test_fashion_mnist_from_local_idx_files(idx_root):
    data = build_dataset(dataset_cfg(name="fashion_mnist", root=str(idx_root), download=False))
    assert data.images.shape == (96, 1, 28, 28) and data.images.dtype == torch.uint8
    assert data.labels.shape == (96,) and data.num_classes == 10
    test = build_dataset(dataset_cfg(name="fashion_mnist", root=str(idx_root), split="test", download=False))
    assert len(test.images) == 32


def test_resolution_and_channels_are_applied(idx_root):
    data = build_dataset(dataset_cfg(name="fashion_mnist", root=str(idx_root), download=False, resolution=32, channels=3))
    assert data.images.shape == (96, 3, 32, 32)
    assert data.resolution == 32 and data.channels == 3


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").exists(), reason="dataset-fashion-mnist not installed")
def test_real_fashion_mnist_from_the_debian_package(tmp_path):
    data = build_dataset(dataset_cfg(name="fashion_mnist", root=str(tmp_path), download=False))
    assert data.images.shape == (60000, 1, 28, 28)
    assert torch.bincount(data.labels).tolist() == [6000] * 10


def test_missing_dataset_says_what_and_how(tmp_path):
    with pytest.raises(GanError) as info:
        build_dataset(dataset_cfg(name="mnist", root=str(tmp_path), download=False))
    message = str(info.value)
    assert "train-images-idx3-ubyte" in message and "dataset.root" in message
    assert "\n" not in message


def test_cifar10_python_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), b"labels": list(range(4))}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    data = build_dataset(dataset_cfg(name="cifar10", root=str(tmp_path), download=False))
    assert data.images.shape == (20, 3, 32, 32)
    # CIFAR stores each image as R plane, G plane, B plane of 32x32
    with open(folder / "data_batch_1", "rb") as f:
        first = pickle.load(f)[b"data"][0]
    assert (data.images[0, 1].flatten().numpy() == first[1024:2048]).all()


def test_folder_of_non_square_images_is_centre_cropped_or_padded(tmp_path):
    from PIL import Image

    folder = tmp_path / "faces" / "sub"
    folder.mkdir(parents=True)
    # 60 wide, 30 high: left third black, middle third white, right third black
    array = np.zeros((30, 60, 3), dtype=np.uint8)
    array[:, 20:40] = 255
    for i in range(3):
        Image.fromarray(array).save(folder / f"{i}.png")
    (tmp_path / "faces" / "notes.txt").write_text("not an image")
    cropped = build_dataset(dataset_cfg(name="folder", root=str(tmp_path / "faces"), resolution=16))
    assert cropped.images.shape == (3, 3, 16, 16)
    # centre crop keeps x in [15, 45): white in the middle, black at the edges
    # (Lanczos resampling rings a little at the edges: near-black, not exactly 0)
    assert cropped.images[0, :, 8, 8].min() >= 250 and cropped.images[0, :, 8, 0].max() < 30
    padded = build_dataset(dataset_cfg(name="folder", root=str(tmp_path / "faces"), resolution=16, crop="pad"))
    # padding to 60x60 puts black bands above and below
    assert padded.images[0, :, 0, 8].max() < 30 and padded.images[0, :, 8, 8].min() > 200


def test_empty_folder_is_one_clear_error(tmp_path):
    with pytest.raises(GanError, match="no images"):
        build_dataset(dataset_cfg(name="folder", root=str(tmp_path)))


def test_epoch_order_resumes_mid_epoch():
    a = EpochOrder(10, 3, seed=1)
    seen = [a.next() for _ in range(4)]  # crosses an epoch boundary (3 batches per epoch)
    state = a.state_dict()
    rest = [a.next().tolist() for _ in range(5)]
    b = EpochOrder(10, 3, seed=1)
    b.load_state_dict(state)
    assert [b.next().tolist() for _ in range(5)] == rest
    first_epoch = torch.cat(seen[:3])
    assert len(set(first_epoch.tolist())) == 9  # no repeats within an epoch


def test_memory_and_toy_batches_resume(idx_root):
    data = build_dataset(dataset_cfg(name="fashion_mnist", root=str(idx_root), download=False))
    for make in (lambda: MemoryBatches(data, 16, 0, torch.device("cpu")),
                 lambda: ToyBatches(GaussianMixture("ring"), 16, 0, torch.device("cpu"))):
        a = make()
        a.next()
        state = a.state_dict()
        expected = a.next()[0]
        b = make()
        b.load_state_dict(state)
        assert torch.equal(b.next()[0], expected)


def test_uint8_float_roundtrip():
    x = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    f = to_float(x)
    assert f.min() == -1 and f.max() == 1
    assert torch.equal(to_uint8(f), x)
