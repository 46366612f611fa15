"""Which feature extractor scores a dataset (`metrics.features`):

- inception: the TF-ported Inception v3 (the FID literature's network);
- classifier: the domain classifier of `gan classifier`: metrics.classifier, else the one the
  user trained for the dataset (~/.cache/gan/classifiers), else the one shipped in the package
  (gan_cli/assets; checked against its manifest's sha256);
- auto: the classifier for MNIST-like data (cached, else shipped), Inception for everything else
  when its weights are here; otherwise the metrics are skipped with one line saying how to
  enable them (a score is never invented);
- none: no image metrics.

Extractors are built once per process and device (evaluations during training reuse them).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from gan_cli.errors import GanError
from gan_cli.metrics.classifier import (
    MNIST_LIKE,
    ClassifierExtractor,
    default_classifier_path,
    shipped_classifier_path,
    shipped_manifest_path,
)
from gan_cli.metrics.extractor import FeatureExtractor, file_sha256
from gan_cli.metrics.inception_weights import WeightsUnavailable, locate_inception_weights
from gan_cli.metrics.settings import FEATURES

log = logging.getLogger("gan")

_BUILT: dict[tuple, FeatureExtractor] = {}
_SAID: set[str] = set()


class MetricsSkipped(GanError):
    """The chosen features are not available here; the message says how to make them so."""


def classifier_path(mcfg, dataset: str) -> Path:
    """metrics.classifier, else the user's own (cache), else the shipped one; the cache path
    (for the message) when there is none."""
    if mcfg.get("classifier"):
        return Path(mcfg.classifier).expanduser()
    cached = default_classifier_path(dataset)
    if not cached.is_file() and shipped_classifier_path(dataset).is_file():
        return shipped_classifier_path(dataset)
    return cached


def feature_space(mcfg, dataset: str) -> str:
    """In words, which features score `dataset` here (README and `gan eval --help` list the rule)."""
    kind = mcfg.features
    if kind == "auto":
        kind = "classifier" if dataset in MNIST_LIKE else "inception"
    if kind != "classifier":
        return kind
    path = classifier_path(mcfg, dataset)
    if not path.is_file():
        return "none (no classifier)"
    return "shipped classifier" if path == shipped_classifier_path(dataset) else f"classifier {path}"


def choose_extractor(mcfg, dataset: str, device: torch.device | str) -> FeatureExtractor | None:
    """The extractor for `dataset`, None for features=none; MetricsSkipped when unavailable."""
    kind = mcfg.features
    if kind not in FEATURES:
        raise GanError(f"metrics.features={kind}: choose one of {', '.join(FEATURES)}")
    if kind == "none":
        return None
    if kind == "auto":
        kind = "classifier" if dataset in MNIST_LIKE else "inception"
    if kind == "classifier":
        path = classifier_path(mcfg, dataset)
        if not path.is_file():
            hint = "" if dataset in MNIST_LIKE else " (Inception is the usual choice for RGB data: metrics.features=inception)"
            raise MetricsSkipped(
                f"image metrics skipped: no domain classifier for {dataset} at {path}: train one with "
                f"`gan classifier dataset={dataset}` (a few CPU minutes), or set metrics.classifier=PATH{hint}"
            )
        key = ("classifier", str(path.resolve()), path.stat().st_mtime_ns, str(device))
        if key not in _BUILT:
            if path == shipped_classifier_path(dataset):
                check_shipped(dataset)
            _BUILT[key] = ClassifierExtractor.from_file(path, device)
        return _BUILT[key]
    try:
        weights = locate_inception_weights(mcfg.get("inception_weights"), download=mcfg.get("download", True))
    except WeightsUnavailable as e:
        raise MetricsSkipped(str(e)) from None
    from gan_cli.metrics.inception import InceptionExtractor

    key = ("inception", str(weights.resolve()), mcfg.preprocessing, str(device))
    if key not in _BUILT:
        _BUILT[key] = InceptionExtractor(weights, mcfg.preprocessing, device)
    return _BUILT[key]


def check_shipped(dataset: str) -> None:
    """The shipped file must be the one its manifest describes (a damaged install is one line)."""
    path, manifest = shipped_classifier_path(dataset), shipped_manifest_path(dataset)
    try:
        expected = json.loads(manifest.read_text())["sha256"]
    except (OSError, ValueError, KeyError) as e:
        raise GanError(f"cannot read {manifest} ({type(e).__name__}): reinstall gan-cli, or train your own "
                       f"classifier with `gan classifier dataset={dataset}`") from None
    if file_sha256(path) != expected:
        raise GanError(f"{path} does not match the sha256 in {manifest.name} (damaged install): reinstall gan-cli, "
                       f"or train your own classifier with `gan classifier dataset={dataset}`")


def say_once(message: str) -> None:
    """A skip line is worth reading once per run, not at every evaluation."""
    if message not in _SAID:
        _SAID.add(message)
        log.warning("%s", message)
