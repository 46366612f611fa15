"""The domain classifier: a small CNN trained on a labelled dataset (`gan classifier`), whose
penultimate layer replaces Inception's pool_3 for data Inception was not trained on.

The TTUR authors advise this for MNIST-like data; scores in its feature space are comparable only
among themselves (same classifier file: its weights hash is recorded with every score), and the
file carries the real train-vs-test figures as the floor a perfect generator would reach.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from torch import nn

from gan_cli.data import resize_uint8, to_float, to_grey
from gan_cli.errors import GanError
from gan_cli.metrics.extractor import HASH_CHARS, FeatureExtractor, state_dict_sha256

FORMAT = "gan-classifier"
VERSION = 1
MNIST_LIKE = ("mnist", "fashion_mnist")


def gan_cache() -> Path:
    """~/.cache/gan, or $GAN_CACHE."""
    return Path(os.environ.get("GAN_CACHE", Path.home() / ".cache" / "gan")).expanduser()


def default_classifier_path(dataset: str) -> Path:
    return gan_cache() / "classifiers" / f"{dataset}.pt"


def assets_dir() -> Path:
    """The classifiers shipped inside the package (gan_cli/assets), or $GAN_ASSETS (the tests point
    it at an empty folder, as they point GAN_CACHE away from the user's cache)."""
    return Path(os.environ.get("GAN_ASSETS", Path(__file__).resolve().parents[1] / "assets")).expanduser()


def shipped_classifier_path(dataset: str) -> Path:
    return assets_dir() / f"{dataset}_classifier.pt"


def shipped_manifest_path(dataset: str) -> Path:
    return assets_dir() / f"{dataset}_classifier.json"


def _block(c_in: int, c_out: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class DomainClassifier(nn.Module):
    """conv(w) at full resolution, max pool, two strided convs (2w, 4w), then a `feature_dim`
    ReLU layer (the features) and the class head. ~9M multiply-adds per 28x28 image."""

    def __init__(self, channels: int, resolution: int, num_classes: int, width: int = 32, feature_dim: int = 256):
        super().__init__()
        self.arch = {"channels": channels, "resolution": resolution, "num_classes": num_classes,
                     "width": width, "feature_dim": feature_dim}
        self.body = nn.Sequential(
            *_block(channels, width), nn.MaxPool2d(2),
            *_block(width, 2 * width, stride=2),
            *_block(2 * width, 4 * width, stride=2),
            nn.Flatten(),
        )
        side = math.ceil(math.ceil((resolution // 2) / 2) / 2)
        self.embed = nn.Sequential(nn.Linear(4 * width * side * side, feature_dim), nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(feature_dim, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: float in [-1, 1] -> (penultimate features, class logits)."""
        features = self.embed(self.body(x))
        return features, self.head(self.dropout(features))


# ----------------------------------------------------------------------------- files
STORAGE_DTYPES = {"float16": torch.float16, "float32": torch.float32}


def stored_weights(net: DomainClassifier, weights_dtype: str = "float32") -> dict[str, torch.Tensor]:
    """The state dict as it is written to the file: floating tensors in `weights_dtype` (float16
    halves the file), integer buffers (BN's step count) untouched."""
    if weights_dtype not in STORAGE_DTYPES:
        raise GanError(f"weights_dtype={weights_dtype}: choose {' or '.join(STORAGE_DTYPES)}")
    dtype = STORAGE_DTYPES[weights_dtype]
    return {k: (v.detach().cpu().to(dtype) if v.is_floating_point() else v.detach().cpu()).clone()
            for k, v in net.state_dict().items()}


def round_to_storage(net: DomainClassifier, weights_dtype: str) -> DomainClassifier:
    """Give `net` exactly the weights a later load of its file will have, so the test accuracy and
    the floor measured now are those of the stored network."""
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in stored_weights(net, weights_dtype).items()})
    return net


def classifier_state(net: DomainClassifier, dataset: str, weights_dtype: str = "float32", **facts) -> dict:
    """Plain containers and tensors only (loads with weights_only=True)."""
    weights = stored_weights(net, weights_dtype)
    return {"format": FORMAT, "version": VERSION, "dataset": dataset, "arch": dict(net.arch), "state_dict": weights,
            "weights_sha256": state_dict_sha256(weights)[:HASH_CHARS], **facts}


def load_classifier(path: str | Path) -> tuple[DomainClassifier, dict]:
    path = Path(path).expanduser()
    if not path.is_file():
        raise GanError(f"no classifier at {path}: train one with `gan classifier dataset=<name>` (or set metrics.classifier)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file: one line
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise GanError(f"cannot load classifier {path} ({first}): train it again with `gan classifier`") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise GanError(f"{path} is not a `gan classifier` file: train one with `gan classifier dataset=<name>`")
    try:
        net = DomainClassifier(**state["arch"])
        # float16-stored weights compute in float32 (load_state_dict copies into float32 tensors)
        net.load_state_dict(state["state_dict"])
    except Exception as e:  # noqa: BLE001 - a damaged or hand-edited file: one line
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise GanError(f"{path} is a damaged `gan classifier` file ({first}): train it again with "
                       f"`gan classifier dataset={state.get('dataset', '<name>')}`") from None
    return net.eval(), state


class ClassifierExtractor(FeatureExtractor):
    name = "classifier"

    def __init__(self, net: DomainClassifier, info: dict, device: torch.device | str = "cpu", path: str | None = None):
        arch = net.arch
        sha = info.get("weights_sha256") or state_dict_sha256(net.state_dict())[:HASH_CHARS]
        self.channels, self.resolution = arch["channels"], arch["resolution"]
        self.floor = info.get("floor", {})
        super().__init__(net, device, arch["feature_dim"], arch["num_classes"], key=f"classifier-{info['dataset']}-{sha}",
                         provenance={
                             "extractor": f"gan classifier for {info['dataset']} ({arch['feature_dim']}-d penultimate layer)",
                             "weights": str(path) if path else None,
                             "classifier_source": _source(path, info.get("dataset")),
                             "weights_sha256": sha,
                             "preprocessing": f"{'grey' if self.channels == 1 else 'RGB'} {self.resolution}x{self.resolution}, "
                                              "antialiased bilinear resize, [-1, 1]",
                             "classifier_test_accuracy": info.get("test_accuracy"),
                         })

    @classmethod
    def from_file(cls, path: str | Path, device: torch.device | str = "cpu") -> ClassifierExtractor:
        net, info = load_classifier(path)
        return cls(net, info, device, str(path))

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images of any size and channel count -> the classifier's input."""
        if images.shape[1] != self.channels:  # (to_grey's weights live on the CPU)
            images = to_grey(images.cpu()).to(images.device) if self.channels == 1 else images.expand(-1, 3, -1, -1)
        if images.shape[-1] != self.resolution or images.shape[-2] != self.resolution:
            images = resize_uint8(images, self.resolution)
        return to_float(images)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net(self.prepare(images))


def _source(path: str | None, dataset: str | None) -> str | None:
    """shipped (in the package), cache (`gan classifier` here) or file (metrics.classifier)."""
    if not path or not dataset:
        return None
    resolved = Path(path).resolve()
    if resolved == shipped_classifier_path(dataset).resolve():
        return "shipped"
    return "cache" if resolved == default_classifier_path(dataset).resolve() else "file"

