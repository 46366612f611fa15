"""Random TF-Inception weights in the published key layout, for exactness tests without the real file.

Seeded; batch-norm statistics calibrated by a train-mode pass over smooth random images (else the
features explode); the fc layer scaled up so the logits are far from uniform (a meaningful IS).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gan_cli.metrics.inception import InceptionV3TF, inception_features


def smooth_images(n: int, seed: int, size: int = 16, coarse: int = 4, shift: float = 0.0) -> torch.Tensor:
    """uint8 (n, 3, size, size): coarse noise upsampled, optionally brightened."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, coarse, coarse, generator=gen)
    x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False)
    x = x + 0.15 * torch.rand(n, 3, size, size, generator=gen) + shift
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


def random_inception_state(seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    net = InceptionV3TF()
    gen = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data = 0.5 + torch.rand(m.weight.shape, generator=gen)
            m.bias.data = 0.4 * torch.rand(m.bias.shape, generator=gen) - 0.2
            m.momentum = None  # running statistics = the calibration batch's
            m.reset_running_stats()
    net.fc.weight.data *= 30
    net.fc.bias.data = 2 * torch.rand(net.fc.bias.shape, generator=gen) - 1
    net.train()
    with torch.no_grad():
        inception_features(net, smooth_images(4, seed + 1))
    return {k: v.clone() for k, v in net.eval().state_dict().items()}
