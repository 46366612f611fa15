"""The feature-extractor interface every image metric goes through, and file hashes.

An extractor takes uint8 images (N, C, H, W) and returns (features (N, d), logits (N, K)) as
float32 on its device. Its `key` names it in cache file names (reference statistics are only
reused with the very same network and preprocessing) and its `provenance` is stored with every
score.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

import torch
from torch import nn

HASH_CHARS = 16  # hex characters of sha256 recorded (the official Inception file names use 8)


@contextlib.contextmanager
def full_precision(device: torch.device):
    """No TF32 inside feature extraction: the trainer enables it for speed, but scores must be
    float32-exact to compare with the reference implementations."""
    if device.type != "cuda":
        yield
        return
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


class FeatureExtractor:
    name = "extractor"

    def __init__(self, net: nn.Module, device: torch.device | str, dims: int, num_classes: int, key: str,
                 provenance: dict):
        self.device = torch.device(device)
        self.net = net.to(self.device).eval().requires_grad_(False)
        self.dims, self.num_classes = dims, num_classes
        self.key = key
        self.provenance = {"features": self.name, **provenance}

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if images.dtype != torch.uint8:
            raise TypeError(f"feature extractors take uint8 images, got {images.dtype}")
        with torch.inference_mode(), full_precision(self.device):
            features, logits = self.forward(images.to(self.device, non_blocking=True))
        return features.float(), logits.float()


_FILE_HASHES: dict[tuple, str] = {}


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file (memoised per path, size and mtime: weights are read once per run)."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _FILE_HASHES:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _FILE_HASHES[key] = digest.hexdigest()
    return _FILE_HASHES[key]


def state_dict_sha256(state: dict[str, torch.Tensor]) -> str:
    """Hex sha256 of a state dict's names and tensor bytes: the identity of a network's weights,
    independent of what else its file holds."""
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(state[name].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()
