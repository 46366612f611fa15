"""FIR-filtered resampling (upsample, pad, filter, downsample: "upfirdn") in plain torch ops.

StyleGAN2 resamples feature maps and images through a low-pass filter instead of nearest or
bilinear interpolation; its filter is the outer product of [1, 3, 3, 1], normalised to sum 1.
`upfirdn2d` follows the definition used by NVlabs' reference implementation: insert up-1 zeros
after every pixel, pad (or crop, for negative padding), convolve every channel with the filter,
keep every down-th pixel. The filter here is symmetric, so convolution and correlation agree.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def fir_filter(taps: list[float]) -> torch.Tensor:
    """The separable 2-D filter outer(taps, taps), normalised to sum 1."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum()


def upfirdn2d(x: torch.Tensor, f: torch.Tensor, up: int = 1, down: int = 1,
              pad: tuple[int, int, int, int] = (0, 0, 0, 0), gain: float = 1.0) -> torch.Tensor:
    """x (N, C, H, W); pad = (left, right, top, bottom), applied after zero insertion."""
    n, c, h, w = x.shape
    if up > 1:  # zeros after every pixel, along both axes
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    left, right, top, bottom = pad
    x = F.pad(x, [max(left, 0), max(right, 0), max(top, 0), max(bottom, 0)])
    x = x[:, :, max(-top, 0): x.shape[2] - max(-bottom, 0), max(-left, 0): x.shape[3] - max(-right, 0)]
    kernel = (f * gain).to(x.dtype).flip([0, 1])[None, None].repeat(c, 1, 1, 1)
    x = F.conv2d(x, kernel, groups=c)
    return x[:, :, ::down, ::down]


def upsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """2x upsampling through the filter (gain 4 keeps the mean: 3 of 4 inserted pixels are 0)."""
    k = f.shape[-1]
    return upfirdn2d(x, f, up=2, pad=((k + 1) // 2, (k - 2) // 2, (k + 1) // 2, (k - 2) // 2), gain=4.0)


def conv_up2(x: torch.Tensor, weight: torch.Tensor, f: torch.Tensor, groups: int = 1) -> torch.Tensor:
    """3x3 conv at twice the resolution, 'same' padding: a stride-2 transposed conv, then the filter.

    weight is (out, in/groups, k, k) as for a plain convolution; the transposed conv wants it
    as (in, out/groups, k, k) per group, which is what the reshapes below produce.
    """
    out_c, in_per_group, k, _ = weight.shape
    w = weight.reshape(groups, out_c // groups, in_per_group, k, k).transpose(1, 2)
    w = w.reshape(groups * in_per_group, out_c // groups, k, k)
    x = F.conv_transpose2d(x, w, stride=2, groups=groups)
    # the transposed conv adds k-1 pixels; the filter of length t removes t-1 of what is padded
    t = f.shape[-1]
    p = (k // 2 + (t + 1) // 2 - (k - 1), k // 2 + (t - 2) // 2 - (k - 2))
    return upfirdn2d(x, f, pad=(p[0], p[1], p[0], p[1]), gain=4.0)


def conv_down2(x: torch.Tensor, weight: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Filter, then a stride-2 conv: the conv's output is half the input's side ('same' padding)."""
    k, t = weight.shape[-1], f.shape[-1]
    if k == 1:  # 1x1 (a shortcut): filter and drop every other pixel, then mix channels
        p = ((t - 1) // 2, (t - 2) // 2)
        x = upfirdn2d(x, f, down=2, pad=(p[0], p[1], p[0], p[1]))
        return F.conv2d(x, weight)
    p = (k // 2 + (t - 1) // 2, k // 2 + (t - 2) // 2)
    x = upfirdn2d(x, f, pad=(p[0], p[1], p[0], p[1]))
    return F.conv2d(x, weight, stride=2)
