"""`dataset.limit`: a fixed subset of the training data for small-data experiments.

The subset depends on the data set's size and the limit only, never on the run's seed: every
seed and every run trains on the same images, so a table over seeds measures the training, not
the draw of the images. It is a prefix of one fixed permutation, so a smaller limit's images are
all in a larger one's (1% is inside 10%).
"""

from __future__ import annotations

import hashlib

import numpy as np

from gan_cli.errors import GanError

# numpy's PCG64 stream: the same permutation on every platform and torch version.
SUBSET_SEED = 20_201_231


def subset_size(limit, total: int, what: str) -> int:
    """The number of examples `dataset.limit` keeps: an int N (1 <= N <= total) or a fraction in (0, 1]."""
    if isinstance(limit, bool) or not isinstance(limit, (int, float)):
        raise GanError(f"dataset.limit={limit!r}: give a number of images (e.g. 600) or a fraction in (0, 1] (e.g. 0.01)")
    if isinstance(limit, float) and limit <= 1:  # a fraction; 1.0 is all of it
        if limit <= 0:
            raise GanError(f"dataset.limit={limit}: a fraction must be in (0, 1], e.g. dataset.limit=0.01 for 1%")
        return max(1, round(limit * total))
    if isinstance(limit, float) and not limit.is_integer():
        raise GanError(f"dataset.limit={limit}: give a whole number of images, or a fraction in (0, 1]")
    n = int(limit)
    if n <= 0:
        raise GanError(f"dataset.limit={limit}: give at least 1 image, a fraction in (0, 1], or null for all {total} of {what}")
    if n > total:
        raise GanError(f"dataset.limit={n} is more than the {total} images of {what}: "
                       f"use at most {total}, a fraction such as 0.1, or null for all")
    return n


def subset_indices(limit, total: int, what: str) -> np.ndarray:
    """Sorted indices of the examples kept (sorted: the data keep their stored order)."""
    n = subset_size(limit, total, what)
    if n == total:
        return np.arange(total)
    order = np.random.default_rng(SUBSET_SEED).permutation(total)
    return np.sort(order[:n])


def subset_fingerprint(indices: np.ndarray) -> str:
    """A short hash of the kept indices: equal fingerprints, equal training images."""
    return hashlib.sha256(np.asarray(indices, dtype=np.int64).tobytes()).hexdigest()[:12]


def whole_dataset(dataset_cfg):
    """The dataset config without its limit: FID's reference statistics are those of the whole
    split even when training used a subset."""
    if not dataset_cfg.get("limit"):
        return dataset_cfg
    from omegaconf import OmegaConf, open_dict

    whole = OmegaConf.create(OmegaConf.to_container(dataset_cfg, resolve=True))
    with open_dict(whole):
        whole.limit = None
    return whole
