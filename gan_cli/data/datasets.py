"""The datasets, by config name: `@register_dataset("cifar10")` names the function that loads one
(or generates it: the 2-D mixtures), so `dataset=<name>` leads here and nowhere else.

Image datasets come back as an `ImageDataset` of uint8 images, held in memory or listed as files
decoded on the fly; the 2-D mixtures as a `GaussianMixture` (data/toy2d.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from gan_cli.data import images as image_files
from gan_cli.data.pixels import resize_uint8, to_grey
from gan_cli.data.subset import subset_fingerprint, subset_indices
from gan_cli.data.toy2d import GaussianMixture
from gan_cli.errors import GanError


@dataclass
class ImageDataset:
    """Images as uint8 (N, C, H, W) in memory, or as a list of files decoded on the fly."""

    name: str
    resolution: int
    channels: int
    num_classes: int
    images: torch.Tensor | None = None
    labels: torch.Tensor | None = None
    files: list[Path] = field(default_factory=list)
    crop: str = "center"
    kind: str = "image"
    # dataset.limit: {"limit", "images", "of", "fingerprint"} of the subset trained on; None: all
    subset: dict | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.resolution, self.resolution)

    @property
    def num_examples(self) -> int:
        return len(self.images) if self.images is not None else len(self.files)

    def describe(self) -> str:
        where = "in memory" if self.images is not None else "streamed from files"
        kept = f" (dataset.limit={self.subset['limit']}: {self.num_examples} of {self.subset['of']}, subset " \
               f"{self.subset['fingerprint']})" if self.subset else ""
        return f"{self.name}: {self.num_examples} images{kept} {self.channels}x{self.resolution}x{self.resolution}, {where}"


@dataclass(frozen=True)
class DatasetEntry:
    kind: str  # image | toy
    load: Callable  # (dataset config, split) -> ImageDataset | GaussianMixture


# name -> entry, in the order the "choose one of" message lists them
DATASETS: dict[str, DatasetEntry] = {}


def register_dataset(*names: str, kind: str = "image"):
    """Register the decorated `load(cfg, split)` under each of `names`."""

    def wrap(load):
        for name in names:
            DATASETS[name] = DatasetEntry(kind, load)
        return load

    return wrap


def is_dataset(name, kind: str) -> bool:
    """Whether `name` is a registered dataset of this kind (image or toy)."""
    entry = DATASETS.get(name) if isinstance(name, str) else None
    return entry is not None and entry.kind == kind


def build_dataset(cfg, split: str | None = None) -> GaussianMixture | ImageDataset:
    """Load (or generate) the dataset named by a `dataset` config node."""
    split = split or cfg.split
    entry = DATASETS.get(cfg.name)
    if entry is None:
        raise GanError(f"unknown dataset '{cfg.name}': choose one of {', '.join(DATASETS)}")
    if entry.kind == "image" and split not in ("train", "test", "valid", "all"):
        raise GanError(f"dataset.split={split} is not one of train, test (valid, all for celeba)")
    return entry.load(cfg, split)


# ----------------------------------------------------------------------------- 2-D mixtures
@register_dataset("ring", "grid", kind="toy")
def _mixture(cfg, split: str) -> GaussianMixture:
    return GaussianMixture(cfg.name, cfg.std)


# ----------------------------------------------------------------------------- labelled image sets
@register_dataset("mnist", "fashion_mnist")
def _idx(cfg, split: str) -> ImageDataset:
    _train_or_test(cfg.name, split)
    return _from_tensors(cfg, split, *image_files.load_idx_dataset(cfg.name, _root(cfg), split, cfg.download))


@register_dataset("cifar10")
def _cifar10(cfg, split: str) -> ImageDataset:
    _train_or_test(cfg.name, split)
    return _from_tensors(cfg, split, *image_files.load_cifar10(_root(cfg), split, cfg.download))


def _train_or_test(name: str, split: str) -> None:
    if split not in ("train", "test"):
        raise GanError(f"{name} has splits train and test, not {split}")


def _from_tensors(cfg, split: str, x: torch.Tensor, y: torch.Tensor) -> ImageDataset:
    """uint8 images and their labels, cut to `dataset.limit` and converted to the asked channels and size."""
    subset = None
    if cfg.limit is not None:
        keep, subset = _subset(cfg.limit, len(x), f"{cfg.name} {split}")
        x, y = x[keep], y[keep]
    if cfg.channels and cfg.channels != x.shape[1]:
        x = x.expand(-1, 3, -1, -1).contiguous() if cfg.channels == 3 else to_grey(x)
    if cfg.resolution and cfg.resolution != x.shape[-1]:
        x = resize_uint8(x, cfg.resolution)
    # all three have ten classes
    return ImageDataset(cfg.name, x.shape[-1], x.shape[1], 10, images=x, labels=y, crop=cfg.crop, subset=subset)


# ----------------------------------------------------------------------------- folders of files
@register_dataset("folder")
def _folder(cfg, split: str) -> ImageDataset:
    root = _root(cfg)
    if not cfg.root:
        raise GanError("dataset=folder needs dataset.root=<folder of images>")
    return _from_files(cfg, split, root, image_files.list_images(root))


@register_dataset("celeba")
def _celeba(cfg, split: str) -> ImageDataset:
    root = _root(cfg)
    return _from_files(cfg, split, root, image_files.celeba_files(root, split))


def _from_files(cfg, split: str, root: Path, files: list[Path]) -> ImageDataset:
    """Unlabelled image files, decoded into memory when `dataset.in_memory` allows, else streamed."""
    subset = None
    if cfg.limit is not None:
        keep, subset = _subset(cfg.limit, len(files), f"{cfg.name} {split} ({root})")
        files = [files[i] for i in keep]
    resolution = cfg.resolution or 64
    channels = cfg.channels or 3
    data = ImageDataset(cfg.name, resolution, channels, 0, files=files, crop=cfg.crop, subset=subset)
    budget = data.num_examples * channels * resolution**2 / 2**20
    in_memory = str(cfg.in_memory).lower()  # `dataset.in_memory=true` arrives as "True" (a str field)
    if in_memory not in ("auto", "true", "false"):
        raise GanError(f"dataset.in_memory={cfg.in_memory}: choose auto, true or false")
    if in_memory == "true" or (in_memory == "auto" and budget <= cfg.max_in_memory_mb):
        data.images = torch.stack([image_files.load_image(f, resolution, channels, cfg.crop) for f in files])
    return data


def _root(cfg) -> Path:
    return Path(cfg.root).expanduser() if cfg.root else image_files.default_root()


def _subset(limit, total: int, what: str) -> tuple[torch.Tensor, dict]:
    """The indices `dataset.limit` keeps and the record of them for the run's summary."""
    keep = subset_indices(limit, total, what)
    record = {"limit": limit, "images": len(keep), "of": total, "fingerprint": subset_fingerprint(keep)}
    return torch.from_numpy(keep), record
