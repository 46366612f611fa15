"""Where scored samples come from, always as batches: a generator, a dataset, a folder of images
or an .npz. Images travel as uint8 (N, C, H, W); only one batch is alive at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gan_cli.data import to_uint8
from gan_cli.errors import GanError
from gan_cli.generation import class_labels, generate_batches

# Seeds derived from the run seed: evaluation noise never shifts the training random stream, and
# `gan sample` with the run's seed draws exactly the samples that were scored.
EVAL_SEED_OFFSET = 3_000_017


@dataclass
class Batches:
    """An iterable of (uint8 images, labels or None) with the total known up front (the
    Inception Score's shuffled splits and the real-feature subset need it)."""

    total: int
    batches: Iterator
    description: str

    def __iter__(self):
        return iter(self.batches)


# ----------------------------------------------------------------------------- generators
def eval_labels(start: int, n: int, num_classes: int, label: int | None) -> torch.Tensor | None:
    """Class labels for samples start..start+n: `label` for all, else every class in turn (equal
    shares, so class metrics see a balanced request); None for unconditional generators."""
    if label is not None or not num_classes:
        return class_labels(n, num_classes, label)
    return torch.arange(start, start + n) % num_classes


class NoiseStream:
    """Latent vectors from a dedicated CPU generator, drawn in fixed blocks: sample i gets the same z
    whatever the batch size, device or total (so `gan sample n=64` gives the first 64 samples that
    were scored)."""

    BLOCK = 1024

    def __init__(self, z_dim: int, seed: int):
        self.z_dim = z_dim
        self.generator = torch.Generator().manual_seed(seed)
        self.buffer = torch.empty(0, z_dim)

    def next(self, n: int) -> torch.Tensor:
        while len(self.buffer) < n:
            block = torch.randn(self.BLOCK, self.z_dim, generator=self.generator)
            self.buffer = torch.cat([self.buffer, block])
        z, self.buffer = self.buffer[:n], self.buffer[n:]
        return z


def generate(G, n: int, batch_size: int, seed: int, device, num_classes: int = 0, label: int | None = None) -> Iterator:
    """(G(z, y) as float, y) in batches of the evaluation noise (generation.generate_batches)."""
    noise = NoiseStream(G.z_dim, seed)

    def inputs():
        for start in range(0, n, batch_size):
            b = min(batch_size, n - start)
            yield noise.next(b), eval_labels(start, b, num_classes, label)

    return generate_batches(G, inputs(), device)


def generated_images(G, n: int, batch_size: int, seed: int, device, num_classes: int = 0,
                     label: int | None = None) -> Batches:
    batches = ((to_uint8(x), y) for x, y in generate(G, n, batch_size, seed, device, num_classes, label))
    return Batches(n, batches, f"{n} generated images")


def generated_points(G, n: int, batch_size: int, seed: int, device, num_classes: int = 0,
                     label: int | None = None) -> torch.Tensor:
    return torch.cat([x.cpu() for x, _ in generate(G, n, batch_size, seed, device, num_classes, label)])


# ----------------------------------------------------------------------------- datasets
def dataset_images(data, batch_size: int, limit: int | None = None) -> Batches:
    """The images of an ImageDataset in order (held in memory, or decoded file by file)."""
    from gan_cli.data import images as image_files

    total = data.num_examples if not limit else min(limit, data.num_examples)

    def batches():
        for start in range(0, total, batch_size):
            stop = min(start + batch_size, total)
            if data.images is not None:
                x = data.images[start:stop]
            else:
                x = torch.stack([image_files.load_image(f, data.resolution, data.channels, data.crop)
                                 for f in data.files[start:stop]])
            y = data.labels[start:stop] if data.labels is not None else None
            yield x, y

    return Batches(total, batches(), f"{data.name} ({total} images)")


# ----------------------------------------------------------------------------- files
def read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (OSError, ValueError) as e:
        raise GanError(f"cannot read {path}: {e}: is it an .npz written by numpy (e.g. by `gan sample`)?") from e


def npz_images(path: Path, batch_size: int) -> Batches:
    """uint8 images (N, H, W, C) [or (N, H, W)] under key `images` or as the file's only array."""
    arrays = read_npz(path)
    key = "images" if "images" in arrays else (next(iter(arrays)) if len(arrays) == 1 else None)
    if key is None:
        raise GanError(f"{path} holds {sorted(arrays)}: put the images under the key 'images' (uint8, N x H x W x C)")
    x = arrays[key]
    if x.ndim == 3:
        x = x[..., None]
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise GanError(f"{path}: '{key}' is {x.dtype} {x.shape}; expected uint8 images N x H x W x C with C = 1 or 3 "
                       "(convert float images with (x * 127.5 + 127.5).round().clip(0, 255).astype(np.uint8))")
    images = torch.from_numpy(x).permute(0, 3, 1, 2)

    def batches():
        for part in images.split(batch_size):
            yield part.contiguous(), None

    return Batches(len(images), batches(), f"{path} ({len(images)} images)")


def folder_images(path: Path, batch_size: int) -> Batches:
    """Every image file under `path`, at its own size (all must share one size), grey or RGB as
    the first file is."""
    from PIL import Image

    from gan_cli.data.images import list_images

    files = list_images(path)
    with Image.open(files[0]) as first:
        mode = "L" if first.mode in ("1", "L", "I", "I;16", "F") else "RGB"
        size = first.size

    def load(f: Path) -> torch.Tensor:
        try:
            with Image.open(f) as img:
                if img.size != size:
                    raise GanError(f"{f} is {img.size[0]}x{img.size[1]} but {files[0]} is {size[0]}x{size[1]}: "
                                   "score images of one size")
                array = np.asarray(img.convert(mode), dtype=np.uint8)
        except OSError as e:
            raise GanError(f"cannot read image {f}: {e}: remove it from the folder") from e
        return torch.from_numpy(array.reshape(size[1], size[0], -1).copy()).permute(2, 0, 1)

    def batches():
        for start in range(0, len(files), batch_size):
            yield torch.stack([load(f) for f in files[start : start + batch_size]]), None

    return Batches(len(files), batches(), f"{path} ({len(files)} images)")


def image_files_or_npz(path: str, batch_size: int) -> Batches:
    p = Path(path).expanduser()
    if p.is_dir():
        return folder_images(p, batch_size)
    if p.suffix == ".npz" and p.is_file():
        return npz_images(p, batch_size)
    raise GanError(f"{path} is neither a folder of images nor an .npz file")
