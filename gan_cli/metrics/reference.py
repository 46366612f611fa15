"""Reference statistics of real data, cached on disk.

A cache file is named by everything that changes the numbers: the dataset and split, the image
shape it was loaded at, `dataset.limit`, the file list for folders, the feature extractor (its
preprocessing and weights hash) and the number of real images. Computing them is the slow part
of a first evaluation (the whole train split by default); afterwards scoring reads one .npz.
Files live in metrics.cache_dir, default ~/.cache/gan/stats; delete them freely.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from gan_cli.errors import GanError
from gan_cli.metrics.classifier import gan_cache
from gan_cli.metrics.extractor import FeatureExtractor
from gan_cli.metrics.fid import load_stats, save_stats
from gan_cli.metrics.image_metrics import FeatureAccumulator, Reference, accumulate, real_features_kept
from gan_cli.metrics.sources import Batches, dataset_images

log = logging.getLogger("gan")

_MEMO: dict[str, Reference] = {}  # per process: evaluations during training reuse it


def stats_dir(mcfg) -> Path:
    return Path(mcfg.cache_dir).expanduser() if mcfg.get("cache_dir") else gan_cache() / "stats"


def dataset_identity(dataset_cfg, split: str) -> str:
    """The part of a cache name that says which real images these are."""
    parts = [dataset_cfg.name, split]
    if dataset_cfg.get("resolution") or dataset_cfg.get("channels"):
        parts.append(f"{dataset_cfg.get('channels') or 'c'}x{dataset_cfg.get('resolution') or 'native'}-{dataset_cfg.crop}")
    if dataset_cfg.get("limit"):
        parts.append(f"limit{dataset_cfg.limit}")
    if dataset_cfg.name in ("folder", "celeba"):
        parts.append(_file_list_hash(dataset_cfg, split))
    return "-".join(str(p) for p in parts)


def _file_list_hash(dataset_cfg, split: str) -> str:
    """Folders change: the names and sizes of their files are part of the key."""
    from gan_cli.data import build_dataset

    data = build_dataset(_streamed(dataset_cfg), split=split)
    digest = hashlib.sha256()
    for f in data.files:
        digest.update(f"{f}\0{f.stat().st_size}\n".encode())
    return digest.hexdigest()[:12]


def _streamed(dataset_cfg):
    """The dataset config without loading folder images into memory (only the file list is needed)."""
    from omegaconf import OmegaConf, open_dict

    cfg = OmegaConf.create(OmegaConf.to_container(dataset_cfg, resolve=True)) if OmegaConf.is_config(dataset_cfg) else dataset_cfg
    with open_dict(cfg):
        cfg.in_memory = "false"
    return cfg


def reference_path(mcfg, dataset_cfg, extractor: FeatureExtractor) -> Path:
    n = mcfg.get("real_num_samples") or "all"
    return stats_dir(mcfg) / f"{dataset_identity(dataset_cfg, mcfg.real_split)}-{extractor.key}-n{n}.npz"


def real_reference(dataset_cfg, extractor: FeatureExtractor, mcfg, names, fake_total: int) -> Reference:
    """The reference for `dataset_cfg`'s `metrics.real_split`, from the cache or computed (and cached)."""
    path = reference_path(mcfg, dataset_cfg, extractor)
    ref = _MEMO.get(str(path)) or (read_reference(path) if path.is_file() else None)
    if ref is not None and real_features_kept(names, mcfg, ref.n, fake_total) <= (0 if ref.features is None else len(ref.features)):
        _MEMO[str(path)] = ref
        return ref
    from gan_cli.data import build_dataset

    data = build_dataset(dataset_cfg, split=mcfg.real_split)
    if data.kind != "image":
        raise GanError(f"dataset {dataset_cfg.name} is not images: image metrics need an image dataset")
    batches = dataset_images(data, mcfg.batch_size, mcfg.get("real_num_samples"))
    batches.description = f"{dataset_cfg.name} {mcfg.real_split} ({batches.total} images)"
    ref = compute_reference(batches, extractor, mcfg, names, fake_total)
    ref.split = mcfg.real_split
    write_reference(path, ref)
    _MEMO[str(path)] = ref
    return ref


def compute_reference(batches: Batches, extractor: FeatureExtractor, mcfg, names, fake_total: int) -> Reference:
    log.info("computing reference statistics of %s with %s features", batches.description, extractor.name)
    keep = real_features_kept(names, mcfg, batches.total, fake_total)
    acc = FeatureAccumulator(batches.total, stats=True, keep=keep, class_counts=extractor.name == "classifier")
    accumulate(batches, extractor, acc)
    mu, sigma = acc.stats.result()
    counts = None if acc.class_counts is None else acc.class_counts.numpy()
    return Reference(mu, sigma, acc.seen, batches.description, acc.features(), counts)


def write_reference(path: Path, ref: Reference) -> None:
    extra = {"n": np.int64(ref.n), "description": np.str_(ref.description)}
    if ref.split:
        extra["split"] = np.str_(ref.split)
    if ref.features is not None:
        extra["features"] = ref.features
    if ref.class_counts is not None:
        extra["class_counts"] = ref.class_counts
    save_stats(path, ref.mu, ref.sigma, **extra)
    log.info("reference statistics cached in %s", path)


def read_reference(path: Path) -> Reference:
    """A cache file, or any pytorch-fid statistics file (mu, sigma; FID only)."""
    stats = load_stats(path)
    return Reference(
        mu=stats["mu"], sigma=stats["sigma"],
        n=int(stats["n"]) if "n" in stats else 0,
        description=str(stats["description"]) if "description" in stats else f"statistics {path}",
        features=stats.get("features"), class_counts=stats.get("class_counts"),
        split=str(stats["split"]) if "split" in stats else None,
    )
