"""Image datasets read from their published file formats into one uint8 tensor (N, C, H, W).

Files are looked for locally first (dataset.root, torchvision's folder layout, Debian's
dataset-fashion-mnist); when absent and dataset.download is true, torchvision downloads them.
Offline, a missing dataset is one line saying what is missing and how to get it.
"""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import torch

from gan_cli.errors import GanError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".ppm"}

# Where each MNIST-like dataset's IDX files may be, relative to dataset.root (the first is
# torchvision's own layout, where its download puts them), plus system-wide installs.
IDX_LAYOUTS = {
    "mnist": {"folders": ["MNIST/raw", "mnist", "."], "torchvision": "MNIST", "system": []},
    "fashion_mnist": {
        "folders": ["FashionMNIST/raw", "fashion_mnist", "fashion-mnist", "."],
        "torchvision": "FashionMNIST",
        "system": ["/usr/share/datasets/fashion-mnist"],
    },
}
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
HOW_TO_GET = {
    "mnist": "download it on a networked machine (torchvision.datasets.MNIST(root, download=True))",
    "fashion_mnist": "run `apt-get install dataset-fashion-mnist`, or download it where there is a network",
    "cifar10": "download cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/ and extract it there",
    "celeba": "download img_align_celeba.zip and list_eval_partition.txt (torchvision CelebA layout)",
}


def default_root() -> Path:
    return Path(os.environ.get("GAN_DATA", Path.home() / ".cache" / "gan" / "data")).expanduser()


# ----------------------------------------------------------------------------- IDX (MNIST-like)
def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped): big-endian header, then raw values."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise GanError(f"cannot read {path}: {e}: delete it and fetch the file again") from e
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise GanError(f"{path} is not an unsigned-byte IDX file: delete it and fetch it again")
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    values = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if values.size != int(np.prod(dims)):
        raise GanError(f"{path} is truncated ({values.size} of {int(np.prod(dims))} values): fetch it again")
    return values.reshape(dims)


def _find_idx(folders: list[Path], stem: str) -> Path | None:
    for folder in folders:
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def load_idx_dataset(name: str, root: Path, split: str, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    layout = IDX_LAYOUTS[name]
    image_stem, label_stem = IDX_FILES[split]
    folders = [root / f for f in layout["folders"]] + [Path(p) for p in layout["system"]]
    images = _find_idx(folders, image_stem)
    if images is None and download:
        _torchvision_download(name, layout["torchvision"], root, split)
        images = _find_idx(folders, image_stem)
    if images is None:
        raise GanError(
            f"{name} {split} images ({image_stem}[.gz]) not found under {root}: {HOW_TO_GET[name]}, "
            "or set dataset.root to the folder that holds them"
        )
    labels = _find_idx([images.parent], label_stem)
    if labels is None:
        raise GanError(f"{name}: {label_stem}[.gz] is missing beside {images}: fetch it too")
    x = torch.from_numpy(read_idx(images).copy()).unsqueeze(1)  # (N, 1, 28, 28)
    y = torch.from_numpy(read_idx(labels).astype(np.int64))
    if len(x) != len(y):
        raise GanError(f"{name}: {len(x)} images but {len(y)} labels in {images.parent}: fetch the files again")
    return x, y


def _torchvision_download(name: str, tv_class: str, root: Path, split: str) -> None:
    import torchvision.datasets as tvd

    try:
        getattr(tvd, tv_class)(str(root), train=split == "train", download=True)
    except Exception as e:  # noqa: BLE001 - any network failure becomes one line below
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise GanError(
            f"{name} is not under {root} and the download failed ({reason}): {HOW_TO_GET[name]}, "
            "or set dataset.root to a folder that holds it"
        ) from e


# ----------------------------------------------------------------------------- CIFAR-10
CIFAR_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


def load_cifar10(root: Path, split: str, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    folder = root / "cifar-10-batches-py"
    if not folder.is_dir() and download:
        import torchvision.datasets as tvd

        try:
            tvd.CIFAR10(str(root), train=split == "train", download=True)
        except Exception as e:  # noqa: BLE001
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise GanError(
                f"cifar10 is not under {root} and the download failed ({reason}): "
                f"{HOW_TO_GET['cifar10']}, or set dataset.root"
            ) from e
    images, labels = [], []
    for name in CIFAR_FILES[split]:
        path = folder / name
        if not path.is_file():
            raise GanError(f"cifar10: {path} not found: {HOW_TO_GET['cifar10']}, or set dataset.root")
        # CIFAR-10's published format is a pickled dict of numpy arrays; it is data we chose
        # to read, never a checkpoint.
        with open(path, "rb") as f:
            try:
                batch = pickle.load(f, encoding="bytes")
            except Exception as e:  # noqa: BLE001
                raise GanError(f"cifar10: {path} is corrupt ({e}): fetch it again") from e
        images.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
    return torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels))


# ----------------------------------------------------------------------------- folders of images
def list_images(root: Path) -> list[Path]:
    if not root.is_dir():
        raise GanError(f"image folder {root} does not exist: set dataset.root to a folder of images")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise GanError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found under {root}")
    return files


def load_image(path: Path, resolution: int, channels: int, crop: str) -> torch.Tensor:
    """Decode one file to a (C, resolution, resolution) uint8 tensor: square crop/pad, resize."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = img.convert("L" if channels == 1 else "RGB")
            img = square(img, crop)
            img = img.resize((resolution, resolution), Image.Resampling.BICUBIC if img.width < resolution else Image.Resampling.LANCZOS)
            array = np.asarray(img, dtype=np.uint8)
    except (OSError, UnidentifiedImageError) as e:
        raise GanError(f"cannot read image {path}: {e}: remove it from the folder") from e
    if array.ndim == 2:
        array = array[:, :, None]
    return torch.from_numpy(array.copy()).permute(2, 0, 1)


def square(img, crop: str):
    """Centre-crop to the shorter side, or pad to the longer side with black (crop=pad)."""
    from PIL import Image

    if crop not in ("center", "pad"):
        raise GanError(f"dataset.crop={crop}: choose center (crop to the shorter side) or pad (pad to the longer)")
    w, h = img.size
    if w == h:
        return img
    if crop == "pad":
        side = max(w, h)
        canvas = Image.new(img.mode, (side, side))
        canvas.paste(img, ((side - w) // 2, (side - h) // 2))
        return canvas
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return img.crop((left, top, left + side, top + side))


def celeba_files(root: Path, split: str) -> list[Path]:
    folder = root / "celeba" / "img_align_celeba"
    partition = root / "celeba" / "list_eval_partition.txt"
    if not folder.is_dir():
        raise GanError(f"celeba: {folder} not found: {HOW_TO_GET['celeba']} into {root / 'celeba'}")
    if not partition.is_file():
        return list_images(folder)
    wanted = {"train": "0", "valid": "1", "test": "2", "all": None}[split]
    names = []
    for line in partition.read_text().split("\n"):
        parts = line.split()
        if len(parts) == 2 and (wanted is None or parts[1] == wanted):
            names.append(folder / parts[0])
    return names
