"""Datasets and the endless, resumable batch sources the trainer draws from.

- datasets.py: the datasets by config name (a registry) and `build_dataset`
- batches.py:  batch sources (`batch_source`: 2-D points, in-memory or streamed images)
- spec.py:     the `DataSpec` every checkpoint carries, so sampling needs no dataset
- pixels.py:   uint8 <-> float [-1, 1], grey, resizing
- images.py, toy2d.py, subset.py: file formats, the 2-D mixtures, `dataset.limit`'s subsets

Images travel as uint8 and become floats in [-1, 1] on the training device.
"""

from gan_cli.data.batches import EpochOrder, MemoryBatches, StreamingBatches, ToyBatches, batch_source
from gan_cli.data.datasets import DATASETS, ImageDataset, build_dataset, is_dataset, register_dataset
from gan_cli.data.pixels import resize_uint8, to_float, to_grey, to_uint8
from gan_cli.data.spec import DataSpec, data_spec

__all__ = [
    "DATASETS", "DataSpec", "EpochOrder", "ImageDataset", "MemoryBatches", "StreamingBatches", "ToyBatches",
    "batch_source", "build_dataset", "data_spec", "is_dataset", "register_dataset", "resize_uint8", "to_float",
    "to_grey", "to_uint8",
]
