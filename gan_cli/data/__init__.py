"""Datasets and the endless, resumable batch sources the trainer draws from.

A dataset tells the networks its `resolution`, `channels` and `num_classes`, so no size is
written twice in the configs. Images travel as uint8 and become floats in [-1, 1] on the
training device; small datasets live there as one tensor (no DataLoader in the step).
"""

from __future__ import annotations

import signal
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from gan_cli.data import images as image_files
from gan_cli.data.subset import subset_fingerprint, subset_indices
from gan_cli.data.toy2d import GaussianMixture
from gan_cli.distributed import local_part
from gan_cli.errors import GanError

TOY_DATASETS = ("ring", "grid")
IMAGE_DATASETS = ("mnist", "fashion_mnist", "cifar10", "folder", "celeba")
NUM_CLASSES = {"mnist": 10, "fashion_mnist": 10, "cifar10": 10}
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


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


def build_dataset(cfg, split: str | None = None) -> GaussianMixture | ImageDataset:
    """Load (or generate) the dataset named by a `dataset` config node."""
    name = cfg.name
    split = split or cfg.split
    if name in TOY_DATASETS:
        return GaussianMixture(name, cfg.std)
    if name not in IMAGE_DATASETS:
        raise GanError(f"unknown dataset '{name}': choose one of {', '.join(TOY_DATASETS + IMAGE_DATASETS)}")
    if split not in ("train", "test", "valid", "all"):
        raise GanError(f"dataset.split={split} is not one of train, test (valid, all for celeba)")
    root = Path(cfg.root).expanduser() if cfg.root else image_files.default_root()

    if name in ("folder", "celeba"):
        if name == "folder" and not cfg.root:
            raise GanError("dataset=folder needs dataset.root=<folder of images>")
        files = image_files.list_images(root) if name == "folder" else image_files.celeba_files(root, split)
        subset = None
        if cfg.limit is not None:
            keep, subset = _subset(cfg.limit, len(files), f"{name} {split} ({root})")
            files = [files[i] for i in keep]
        resolution = cfg.resolution or 64
        channels = cfg.channels or 3
        data = ImageDataset(name, resolution, channels, 0, files=files, crop=cfg.crop, subset=subset)
        budget = data.num_examples * channels * resolution**2 / 2**20
        in_memory = str(cfg.in_memory).lower()  # `dataset.in_memory=true` arrives as "True" (a str field)
        if in_memory not in ("auto", "true", "false"):
            raise GanError(f"dataset.in_memory={cfg.in_memory}: choose auto, true or false")
        if in_memory == "true" or (in_memory == "auto" and budget <= cfg.max_in_memory_mb):
            data.images = torch.stack([image_files.load_image(f, resolution, channels, cfg.crop) for f in files])
        return data

    if name == "cifar10":
        if split not in ("train", "test"):
            raise GanError(f"cifar10 has splits train and test, not {split}")
        x, y = image_files.load_cifar10(root, split, cfg.download)
    else:
        if split not in ("train", "test"):
            raise GanError(f"{name} has splits train and test, not {split}")
        x, y = image_files.load_idx_dataset(name, root, split, cfg.download)
    subset = None
    if cfg.limit is not None:
        keep, subset = _subset(cfg.limit, len(x), f"{name} {split}")
        x, y = x[keep], y[keep]
    if cfg.channels and cfg.channels != x.shape[1]:
        x = x.expand(-1, 3, -1, -1).contiguous() if cfg.channels == 3 else to_grey(x)
    if cfg.resolution and cfg.resolution != x.shape[-1]:
        x = resize_uint8(x, cfg.resolution)
    return ImageDataset(name, x.shape[-1], x.shape[1], NUM_CLASSES[name], images=x, labels=y, crop=cfg.crop,
                        subset=subset)


def _subset(limit, total: int, what: str) -> tuple[torch.Tensor, dict]:
    """The indices `dataset.limit` keeps and the record of them for the run's summary."""
    keep = subset_indices(limit, total, what)
    record = {"limit": limit, "images": len(keep), "of": total, "fingerprint": subset_fingerprint(keep)}
    return torch.from_numpy(keep), record


def to_grey(x: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (x.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)


def resize_uint8(x: torch.Tensor, resolution: int, chunk: int = 4096) -> torch.Tensor:
    """Resize a uint8 batch with antialiasing, in chunks so memory stays bounded."""
    out = []
    for part in x.split(chunk):
        y = F.interpolate(part.float(), size=(resolution, resolution), mode="bilinear", antialias=True, align_corners=False)
        out.append(y.round().clamp(0, 255).to(torch.uint8))
    return torch.cat(out)


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1]."""
    return x.float().div_(127.5).sub_(1.0)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255]."""
    return x.detach().float().add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8)


@dataclass
class DataSpec:
    """What the networks (and samplers, and metrics of 2-D data) need to know about the data:
    saved in every checkpoint, so sampling and evaluation never need the dataset itself."""

    kind: str
    name: str
    shape: tuple
    channels: int
    resolution: int
    num_classes: int
    toy_means: torch.Tensor | None = None
    toy_std: float | None = None

    def state_dict(self) -> dict:
        return {k: (list(v) if k == "shape" else v) for k, v in self.__dict__.items()}

    @classmethod
    def from_state(cls, state: dict) -> DataSpec:
        return cls(**{**state, "shape": tuple(state["shape"])})


def data_spec(data) -> DataSpec:
    if isinstance(data, GaussianMixture):
        return DataSpec("toy", data.name, (2,), 0, 0, 0, data.means.clone(), data.std)
    return DataSpec("image", data.name, tuple(data.shape), data.channels, data.resolution, data.num_classes)


# ----------------------------------------------------------------------------- batch sources
# Every source yields this process's part of a global batch of `batch_size`: `shard` is
# (rank, world size), (0, 1) for a single process. All ranks draw the same global batches and
# keep disjoint slices, so their union is exactly what one process would have drawn.
class ToyBatches:
    """Fresh 2-D points every batch; the generator state is the whole data state."""

    def __init__(self, mixture: GaussianMixture, batch_size: int, seed: int, device: torch.device,
                 shard: tuple[int, int] = (0, 1)):
        self.mixture, self.batch_size, self.device, self.shard = mixture, batch_size, device, shard
        self.generator = torch.Generator().manual_seed(seed)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.mixture.sample(self.batch_size, self.generator)
        x, y = local_part(x, self.shard), local_part(y, self.shard)
        return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


class EpochOrder:
    """Shuffled epochs drawn from a dedicated generator, resumable mid-epoch.

    The state is the generator state before the current epoch's permutation was drawn plus the
    position in it, so a resumed run sees exactly the batches an uninterrupted run would.
    """

    def __init__(self, n: int, batch_size: int, seed: int, shard: tuple[int, int] = (0, 1)):
        if n < batch_size:
            raise GanError(f"the dataset has {n} examples, fewer than trainer.batch_size={batch_size}")
        self.n, self.batch_size, self.shard = n, batch_size, shard
        self.generator = torch.Generator().manual_seed(seed)
        self._new_epoch()

    def _new_epoch(self) -> None:
        self.epoch_state = self.generator.get_state()
        self.order = torch.randperm(self.n, generator=self.generator)
        self.position = 0

    def next(self) -> torch.Tensor:
        if self.position + self.batch_size > self.n:  # drop the last partial batch
            self._new_epoch()
        idx = self.order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return local_part(idx, self.shard)

    def state_dict(self) -> dict:
        return {"epoch_state": self.epoch_state, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["epoch_state"])
        self._new_epoch()
        self.position = int(state["position"])


class MemoryBatches:
    """Random batches from a uint8 tensor held on the training device."""

    def __init__(self, data: ImageDataset, batch_size: int, seed: int, device: torch.device,
                 shard: tuple[int, int] = (0, 1)):
        self.device = device
        self.images = data.images.to(device)
        labels = data.labels if data.labels is not None else torch.zeros(len(data.images), dtype=torch.long)
        self.labels = labels.to(device)
        self.order = EpochOrder(len(self.images), batch_size, seed, shard)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self.order.next().to(self.device, non_blocking=True)
        return to_float(self.images[idx]), self.labels[idx]

    def state_dict(self) -> dict:
        return self.order.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.order.load_state_dict(state)


class _FileImages(torch.utils.data.Dataset):
    def __init__(self, data: ImageDataset):
        self.data = data

    def __len__(self) -> int:
        return len(self.data.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        d = self.data
        return image_files.load_image(d.files[i], d.resolution, d.channels, d.crop), 0


def _ignore_interrupts(worker_id: int) -> None:
    """Ctrl-C reaches the whole process group; workers leave it to the trainer, which finishes
    its step (possibly drawing more batches) before stopping."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class StreamingBatches:
    """Batches decoded from files by DataLoader workers, in the same resumable epoch order.

    The loader's batch sampler runs ahead of training (prefetch); each batch carries the order's
    state after it was drawn, so the saved state is the consumer's, not the prefetcher's.
    """

    def __init__(self, data: ImageDataset, batch_size: int, seed: int, device: torch.device, num_workers: int,
                 shard: tuple[int, int] = (0, 1)):
        self.device = device
        # Each rank decodes only its slice of every global batch (the role of a DistributedSampler,
        # but resumable mid-epoch and identical to one process's batches).
        self.order = EpochOrder(data.num_examples, batch_size, seed, shard)
        # The loader draws its workers' base seed when an iterator starts; from the global RNG
        # that would shift the training noise of a resumed run, so it gets its own generator.
        self.loader_generator = torch.Generator().manual_seed(seed)
        self.dataset = _FileImages(data)
        self.num_workers = num_workers
        self._iterator = None
        self._pending: deque[dict] = deque()  # states of batches drawn but not yet consumed
        self._state = self.order.state_dict()

    def _draw(self):
        while True:
            idx = self.order.next().tolist()
            self._pending.append(self.order.state_dict())
            yield idx

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._iterator is None:
            self._pending.clear()
            loader = torch.utils.data.DataLoader(
                self.dataset,
                batch_sampler=self._draw(),
                num_workers=self.num_workers,
                pin_memory=self.device.type == "cuda",
                generator=self.loader_generator,
                worker_init_fn=_ignore_interrupts,
            )
            self._iterator = iter(loader)
        x, y = next(self._iterator)
        self._state = self._pending.popleft()
        return to_float(x.to(self.device, non_blocking=True)), y.to(self.device, non_blocking=True)

    def state_dict(self) -> dict:
        return self._state

    def load_state_dict(self, state: dict) -> None:
        self.order.load_state_dict(state)
        self._state = self.order.state_dict()
        self._iterator = None


def batch_source(data, batch_size: int, seed: int, device: torch.device, num_workers: int = 2,
                 shard: tuple[int, int] = (0, 1)):
    """Endless batches; `batch_size` is the global batch, of which this process gets its `shard`."""
    if isinstance(data, GaussianMixture):
        return ToyBatches(data, batch_size, seed, device, shard)
    if data.images is not None:
        return MemoryBatches(data, batch_size, seed, device, shard)
    return StreamingBatches(data, batch_size, seed, device, num_workers, shard)
