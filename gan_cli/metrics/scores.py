"""Scores of a generator during and after training: mode counts for 2-D mixtures; image
metrics (FID, IS, ...) through the configured feature extractor.

The trainer calls `evaluate_generator` every trainer.eval_every steps and at the end (with the
EMA weights when enabled); `gan eval` calls it on checkpoints. Samples are generated in batches
of metrics.batch_size under inference mode on the run's device and folded into running
statistics, so memory stays flat as metrics.num_samples grows.
"""

from __future__ import annotations

import logging

import torch

from gan_cli.data.subset import whole_dataset
from gan_cli.errors import GanError
from gan_cli.metrics.features import choose_extractor, say_once
from gan_cli.metrics.image_metrics import (
    accumulate,
    compute_scores,
    fake_accumulator,
    provenance,
)
from gan_cli.metrics.reference import real_reference
from gan_cli.metrics.registry import METRICS
from gan_cli.metrics.settings import check_names
from gan_cli.metrics.sources import EVAL_SEED_OFFSET, generated_images, generated_points
from gan_cli.metrics.toy2d import mode_metrics

log = logging.getLogger("gan")

__all__ = ["EVAL_SEED_OFFSET", "evaluate_generator"]


@torch.no_grad()
def evaluate_generator(G, spec, cfg, device, num_classes: int = 0, strict: bool = False) -> dict:
    """The scores of G as a flat dict (plus `provenance`). With strict=False (training) a metric
    that cannot be computed (no weights offline, too few samples for KID, ...) is one warning and
    a `metrics_skipped` entry, so the run still finishes with its summary; with strict=True
    (`gan eval`) it is the error."""
    try:
        return _evaluate(G, spec, cfg, device, num_classes)
    except GanError as e:
        if strict:
            raise
        say_once(str(e))
        return {"metrics_skipped": str(e)}


def _evaluate(G, spec, cfg, device, num_classes: int) -> dict:
    seed = cfg.seed + EVAL_SEED_OFFSET
    if spec.kind == "toy":
        points = generated_points(G, cfg.metrics.toy_samples, cfg.metrics.batch_size, seed, device, num_classes)
        return mode_metrics(points, spec.toy_means, spec.toy_std)
    mcfg = cfg.metrics
    names = check_names(mcfg.names)
    if not names:
        return {}
    extractor = choose_extractor(mcfg, spec.name, device)
    if extractor is None:
        return {}
    n = mcfg.num_samples
    # IS alone needs no real data; the classifier's class scores do
    needs_real = any(METRICS[name].needs_real for name in names) or extractor.name == "classifier"
    # a run on a subset (dataset.limit) is scored against the whole split, as small-data papers do
    ref = real_reference(whole_dataset(cfg.dataset), extractor, mcfg, names, n) if needs_real else None
    fake = fake_accumulator(n, names, mcfg, extractor)
    accumulate(generated_images(G, n, mcfg.batch_size, seed, device, num_classes), extractor, fake)
    scores = compute_scores(fake, ref, names, mcfg, extractor)
    return {**scores, "provenance": {**provenance(extractor, fake, ref, names, mcfg), "seed": seed}}
