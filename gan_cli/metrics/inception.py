"""The TF-ported Inception v3 of the FID literature (the 2015-12-05 graph), built from
torchvision's blocks with the patches that make it compute what TensorFlow computed.

With the published weights (pt_inception-2015-12-05-6726825d.pth, or torch-fidelity's copy with
the same key layout), `InceptionV3TF` returns the 2048-d `pool_3` features and the 1008-way
`logits_unbiased` that pytorch-fid, torch-fidelity, TTUR and stylegan2 use. The patches
(tests/unit/metrics/test_inception.py shows each one matters):
- the pool branch of Mixed_5b/c/d, Mixed_6b-e and Mixed_7b averages without the zero padding
  (TF's `avg_pool` ignores it: `count_include_pad=False`);
- the pool branch of Mixed_7c is a max pool (a quirk of that TF graph);
- 1008 classes; `logits_unbiased` = pool_3 @ W.T, without the bias.
Stem, Mixed_6a and Mixed_7a are torchvision's own; its BasicConv2d already has BN eps 1e-3.

Preprocessing, two conventions that must not be mixed (features only match within one):
- "tf1" (default; torch-fidelity, TTUR, stylegan2): uint8 in, TF1's legacy bilinear resize to
  299 (source coordinate = destination * in / out, no half-pixel offset), then (x - 128) / 128;
- "pytorch_fid": x / 255, `F.interpolate(bilinear, align_corners=False)`, then 2x - 1.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import inception as tv

from gan_cli.errors import GanError
from gan_cli.metrics.extractor import HASH_CHARS, FeatureExtractor, file_sha256
from gan_cli.metrics.inception_weights import load_inception_state

INPUT_SIZE = 299
NUM_CLASSES = 1008
FEATURE_DIM = 2048


class _TFPoolBranch:
    """The pool branch as TF computed it: average without the padding, or (Mixed_7c) max."""

    pool_kind = "avg"

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool_kind == "max":
            return F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class TFInceptionA(_TFPoolBranch, tv.InceptionA):
    def _forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        branch1x1 = self.branch1x1(x)
        branch5x5 = self.branch5x5_2(self.branch5x5_1(x))
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return [branch1x1, branch5x5, branch3x3dbl, self.branch_pool(self.pool(x))]


class TFInceptionC(_TFPoolBranch, tv.InceptionC):
    def _forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        branch1x1 = self.branch1x1(x)
        branch7x7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        branch7x7dbl = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            branch7x7dbl = layer(branch7x7dbl)
        return [branch1x1, branch7x7, branch7x7dbl, self.branch_pool(self.pool(x))]


class TFInceptionE(_TFPoolBranch, tv.InceptionE):
    def _forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        branch1x1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        branch3x3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        b3dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        branch3x3dbl = torch.cat([self.branch3x3dbl_3a(b3dbl), self.branch3x3dbl_3b(b3dbl)], 1)
        return [branch1x1, branch3x3, branch3x3dbl, self.branch_pool(self.pool(x))]


# The order of torchvision's Inception3 forward, up to the global average pool (TF's pool_3).
_STAGES = (
    "Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1", "Conv2d_4a_3x3", "maxpool2",
    "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e",
    "Mixed_7a", "Mixed_7b", "Mixed_7c", "avgpool",
)


class InceptionV3TF(tv.Inception3):
    """torchvision's Inception3 with the TF graph's blocks; state-dict keys are torchvision's, so the
    pytorch-fid and torch-fidelity weight files load as they are."""

    def __init__(self, patched: bool = True):
        blocks = [tv.BasicConv2d, tv.InceptionA, tv.InceptionB, tv.InceptionC, tv.InceptionD, tv.InceptionE, tv.InceptionAux]
        if patched:
            blocks = [tv.BasicConv2d, TFInceptionA, tv.InceptionB, TFInceptionC, tv.InceptionD, TFInceptionE, tv.InceptionAux]
        super().__init__(num_classes=NUM_CLASSES, aux_logits=False, init_weights=False, inception_blocks=blocks)
        if patched:
            self.Mixed_7c.pool_kind = "max"

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: preprocessed (N, 3, 299, 299) -> (pool_3 features (N, 2048), logits_unbiased (N, 1008))."""
        for name in _STAGES:
            x = getattr(self, name)(x)
        pool3 = torch.flatten(x, 1)
        return pool3, pool3.mm(self.fc.weight.T)


def random_tf_inception_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded random weights in the published key layout, for tests and benchmarks where the real
    file is absent (both reference libraries load them too, so their features can be compared
    with ours exactly). Batch-norm statistics are calibrated by a train-mode pass over smooth
    random images (else the features explode); the fc layer is scaled so the logits are far from
    uniform (a meaningful Inception Score)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = InceptionV3TF()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data = 0.5 + torch.rand(m.weight.shape, generator=gen)
            m.bias.data = 0.4 * torch.rand(m.bias.shape, generator=gen) - 0.2
            m.momentum = None  # running statistics = the calibration batch's
            m.reset_running_stats()
    net.fc.weight.data *= 30
    net.fc.bias.data = 2 * torch.rand(net.fc.bias.shape, generator=gen) - 1
    coarse = F.interpolate(torch.rand(4, 3, 4, 4, generator=gen), size=(16, 16), mode="bicubic", align_corners=False)
    calibration = (coarse.clamp(0, 1) * 255).round().to(torch.uint8)
    net.train()
    with torch.no_grad():
        inception_features(net, calibration)
    return {k: v.clone() for k, v in net.eval().state_dict().items()}


# ----------------------------------------------------------------------------- preprocessing
def _tf1_source_coords(in_size: int, out_size: int, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """TF1 `resize_bilinear(align_corners=False)`: source = destination * in / out, computed in
    float32 as TF does (no half-pixel offset), so the rounding is TF's too."""
    scale = torch.tensor(in_size / out_size, dtype=torch.float32)
    src = torch.arange(out_size, dtype=torch.float32) * scale
    lo = src.long()  # floor: src >= 0
    hi = (lo + 1).clamp_max(in_size - 1)
    frac = src - lo.float()
    return lo.to(device), hi.to(device), frac.to(device)


def resize_bilinear_tf1(x: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize with TF1's legacy coordinates, bit-exact to TF's formula
    top + (bottom - top) * dy with top/bottom = left + (right - left) * dx.

    Separable: each input row is interpolated along x once, then rows are mixed along y (the same
    arithmetic as interpolating the four corners per output pixel, with far fewer gathers)."""
    lo_x, hi_x, dx = _tf1_source_coords(x.shape[3], size, x.device)
    lo_y, hi_y, dy = _tf1_source_coords(x.shape[2], size, x.device)
    left, right = x.index_select(3, lo_x), x.index_select(3, hi_x)
    rows = left + (right - left) * dx
    top, bottom = rows.index_select(2, lo_y), rows.index_select(2, hi_y)
    return top + (bottom - top) * dy[:, None]


def preprocess_tf1(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> the network's input, as torch-fidelity / TTUR / stylegan2."""
    x = resize_bilinear_tf1(images.float(), INPUT_SIZE)
    return (x - 128) / 128


def preprocess_pytorch_fid(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> the network's input, as pytorch-fid (ToTensor, then its forward)."""
    x = images.float() / 255
    x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
    return 2 * x - 1


PREPROCESSING = {"tf1": preprocess_tf1, "pytorch_fid": preprocess_pytorch_fid}


def to_rgb(images: torch.Tensor) -> torch.Tensor:
    """Grey images are repeated to three channels, as every FID implementation does."""
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


def inception_features(net: nn.Module, images: torch.Tensor, preprocessing: str = "tf1") -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (N, C, H, W) images -> (pool_3 (N, 2048), logits_unbiased (N, 1008)), float32."""
    if images.dtype != torch.uint8:
        raise TypeError(f"Inception features take uint8 images, got {images.dtype}")
    return net(PREPROCESSING[preprocessing](to_rgb(images)))


class InceptionExtractor(FeatureExtractor):
    """pool_3 features and logits_unbiased of the TF-ported Inception v3 from given weights."""

    name = "inception"

    def __init__(self, weights_path: str | Path, preprocessing: str = "tf1", device: torch.device | str = "cpu"):
        if preprocessing not in PREPROCESSING:
            raise GanError(f"metrics.preprocessing={preprocessing}: choose {' or '.join(PREPROCESSING)}")
        net = InceptionV3TF()
        state = load_inception_state(Path(weights_path))
        try:
            net.load_state_dict(state)
        except RuntimeError as e:
            first = str(e).strip().splitlines()[0][:200]
            raise GanError(f"{weights_path} does not fit the TF-ported Inception v3 ({first}): use the 2015-12-05 "
                           "weights of pytorch-fid or torch-fidelity") from None
        sha = file_sha256(weights_path)[:HASH_CHARS]
        self.preprocessing = preprocessing
        super().__init__(net, device, FEATURE_DIM, NUM_CLASSES, key=f"inception-{preprocessing}-{sha}", provenance={
            "extractor": "inception-v3-tf-2015-12-05 (pool_3, logits_unbiased)",
            "weights": str(weights_path),
            "weights_sha256": sha,
            "preprocessing": preprocessing,
        })

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return inception_features(self.net, images, self.preprocessing)
