"""The endless, resumable batch sources the trainer draws from: fresh 2-D points, random batches of a
uint8 tensor held on the training device (no DataLoader in the step), or files decoded by
DataLoader workers. Each yields float batches in [-1, 1] with their labels, and saves its place
(state_dict) so a resumed run draws exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import signal
from collections import deque

import torch

from gan_cli.data import images as image_files
from gan_cli.data.datasets import ImageDataset
from gan_cli.data.pixels import to_float
from gan_cli.data.toy2d import GaussianMixture
from gan_cli.distributed import local_part
from gan_cli.errors import GanError


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
