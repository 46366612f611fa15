"""`gan classifier`: train the domain classifier on a labelled train split, report its test
accuracy, and store it with the real train-vs-test figures (the floor generated samples are
compared against) as ~/.cache/gan/classifiers/<dataset>.pt (and out=PATH).

Deterministic: seeded initialisation, dropout and batch order (bitwise on the CPU for a given
thread count; cuDNN in deterministic mode on a GPU).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from gan_cli import checkpoint as ckpt_io
from gan_cli.config import MetricsConfig
from gan_cli.console import summary_table
from gan_cli.data import EpochOrder, build_dataset, to_float
from gan_cli.errors import GanError
from gan_cli.metrics.classifier import (
    ClassifierExtractor,
    DomainClassifier,
    classifier_state,
    default_classifier_path,
    round_to_storage,
)
from gan_cli.metrics.extractor import file_sha256
from gan_cli.metrics.fid import frechet_distance
from gan_cli.metrics.image_metrics import FeatureAccumulator, Reference, accumulate, real_features_kept
from gan_cli.metrics.kid import kernel_inception_distance
from gan_cli.metrics.predicted_classes import class_metrics
from gan_cli.metrics.reference import reference_path, write_reference
from gan_cli.metrics.sources import dataset_images
from gan_cli.runtime import resolve_device, seed_everything

log = logging.getLogger("gan")
ORDER_SEED_OFFSET = 1_000_003


def run_classifier(cfg) -> dict:
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)
    if device.type == "cuda":
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    name = cfg.dataset.name
    train, test = build_dataset(cfg.dataset, split="train"), build_dataset(cfg.dataset, split="test")
    if getattr(train, "labels", None) is None or not train.num_classes:
        raise GanError(f"dataset={name} has no class labels: the classifier needs a labelled dataset "
                       "(mnist, fashion_mnist, cifar10)")
    net = DomainClassifier(train.channels, train.resolution, train.num_classes, cfg.width, cfg.feature_dim).to(device)
    start = time.perf_counter()
    fit(net, train, cfg, device)
    round_to_storage(net, cfg.weights_dtype)
    train_s = time.perf_counter() - start
    accuracy = test_accuracy(net, test, device)
    log.info("test accuracy %.4f after %d epochs (%.0f s)", accuracy, cfg.epochs, train_s)

    state = classifier_state(net, name, cfg.weights_dtype, test_accuracy=accuracy, train_seconds=round(train_s, 1),
                             recipe={"epochs": cfg.epochs, "batch_size": cfg.batch_size, "lr": cfg.lr, "seed": cfg.seed,
                                     "train_examples": train.num_examples})
    extractor = ClassifierExtractor(net, state, device)
    state["floor"] = real_floor(extractor, train, test, cfg.dataset)
    paths = [default_classifier_path(name)] + ([Path(cfg.out).expanduser()] if cfg.out else [])
    for path in paths:
        ckpt_io.atomic_save(state, path)
    if cfg.out:  # a file to hand on (gan_cli/assets ships one): its manifest beside it
        write_manifest(Path(cfg.out).expanduser(), state, command_line())
    summary = {"dataset": name, "test_accuracy": accuracy, "train_seconds": round(train_s, 1),
               **{f"real {k}": v for k, v in state["floor"].items()}, "saved": ", ".join(map(str, paths))}
    summary_table(f"gan classifier: {name}", summary)
    return summary


def command_line() -> str:
    """`gan classifier` with this run's overrides, as typed (without out=, which only says where)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        overrides = [o for o in HydraConfig.get().overrides.task if not o.startswith("out=")]
    except ValueError:  # called outside a Hydra app (tests)
        overrides = []
    return " ".join(["gan classifier", *overrides])


def write_manifest(path: Path, state: dict, command: str) -> Path:
    """path.json: what a reader needs to trust and reproduce a classifier file: the file's sha256
    (checked before a shipped file is used), test accuracy, command, torch version, real floor."""
    facts = {
        "file": path.name,
        "sha256": file_sha256(path),
        "weights_sha256": state["weights_sha256"],
        "dataset": state["dataset"],
        "test_accuracy": state["test_accuracy"],
        "command": command,
        "torch": torch.__version__,
        "weights_dtype": str(next(v.dtype for v in state["state_dict"].values() if v.is_floating_point())).removeprefix("torch."),
        "arch": state["arch"],
        "recipe": state.get("recipe"),
        "floor": state.get("floor"),
    }
    manifest = path.with_suffix(".json")
    manifest.write_text(json.dumps(facts, indent=2) + "\n")
    return manifest


def fit(net: DomainClassifier, data, cfg, device) -> None:
    """Adam with a cosine learning-rate decay over `epochs` shuffled epochs."""
    images, labels = data.images.to(device), data.labels.to(device)
    order = EpochOrder(len(images), cfg.batch_size, cfg.seed + ORDER_SEED_OFFSET)
    per_epoch = len(images) // cfg.batch_size
    steps = cfg.epochs * per_epoch
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1))
    net.train()
    running = torch.zeros((), device=device)
    for step in range(1, steps + 1):
        idx = order.next().to(device)
        _, logits = net(to_float(images[idx]))
        loss = F.cross_entropy(logits, labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
        running += loss.detach()
        if step % per_epoch == 0:
            log.info("epoch %d/%d: train loss %.4f", step // per_epoch, cfg.epochs, float(running) / per_epoch)
            running.zero_()
    net.eval()


@torch.inference_mode()
def test_accuracy(net: DomainClassifier, data, device, batch_size: int = 1000) -> float:
    net.eval()
    hits = 0
    for start in range(0, data.num_examples, batch_size):
        x = to_float(data.images[start : start + batch_size].to(device))
        hits += int((net(x)[1].argmax(1).cpu() == data.labels[start : start + batch_size]).sum())
    return hits / data.num_examples


def real_floor(extractor: ClassifierExtractor, train, test, dataset_cfg) -> dict:
    """FID, IS, KID and class coverage of the real test split against the real train split in this
    classifier's features: what a generator that reproduced the data exactly would score (with
    10k samples, the default metrics.num_samples; KID with the default subsets against as many
    train features as a run keeps). The train statistics become the cached reference of later
    evaluations."""
    mcfg = OmegaConf.structured(MetricsConfig)
    train_batches = dataset_images(train, mcfg.batch_size)
    keep = real_features_kept(["kid"], mcfg, train_batches.total, mcfg.num_samples)
    train_acc = accumulate(train_batches, extractor, FeatureAccumulator(train_batches.total, class_counts=True, keep=keep))
    test_batches = dataset_images(test, mcfg.batch_size)
    test_acc = accumulate(test_batches, extractor, FeatureAccumulator(
        test_batches.total, inception_score=True, class_counts=True, is_splits=mcfg.is_splits, is_shuffle=mcfg.is_shuffle,
        keep=test_batches.total))
    mu_train, sigma_train = train_acc.stats.result()
    mu_test, sigma_test = test_acc.stats.result()
    description = f"{train.name} train ({train.num_examples} images)"
    write_reference(reference_path(mcfg, dataset_cfg, extractor),
                    Reference(mu_train, sigma_train, train.num_examples, description, None,
                              train_acc.class_counts.numpy(), split="train"))
    subset = min(mcfg.kid_subset_size, keep, test_batches.total)
    kid, _ = kernel_inception_distance(test_acc.features(), train_acc.features(), mcfg.kid_subsets, subset,
                                       device=extractor.device)
    return {
        "fid": frechet_distance(mu_test, sigma_test, mu_train, sigma_train),
        "is": test_acc.score.result()[0],
        "kid": kid,
        **class_metrics(test_acc.class_counts, train_acc.class_counts),
        "num_samples": test.num_examples,
        "description": f"{train.name} test ({test.num_examples} images) vs train ({train.num_examples} images)",
    }
