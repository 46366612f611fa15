"""StyleGAN2 (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN"), laid
out as in NVlabs' stylegan2-ada-pytorch, whose forward outputs these networks reproduce to 1e-5
(tests/unit/models/test_archs_stylegan2.py, against weights and outputs of the official code).

G = mapping network z (+ class embedding) -> w, then a synthesis network from a learned 4x4
constant: per resolution two modulated 3x3 convs (the first upsampling) with per-pixel noise,
and a toRGB whose outputs are summed over resolutions ("skip" generator). D: fromRGB at full
resolution, per resolution two 3x3 convs (the second downsampling, with a 1x1 residual shortcut
in the "resnet" architecture; "orig" has none), then minibatch stddev, a conv, two dense layers;
class-conditional D projects its output on a mapped class embedding.

Every layer has an equalised learning rate: weights are N(0, 1) (N(0, 1/lr_mult^2) in the
mapping) and scaled at run time by 1/sqrt(fan_in) (times lr_mult). Leaky-ReLU outputs are
multiplied by sqrt(2) to keep unit variance; `conv_clamp` clips activations (for fp16).

Channels at resolution r: min(channel_base / r, channel_max) (the `cifar` config: 32768 and 512,
so 512 everywhere at 32 px; `auto`: channel_base 16384 below 512 px).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gan_cli.errors import GanError
from gan_cli.models.layers import MinibatchStddev
from gan_cli.models.resample import conv_down2, conv_up2, fir_filter, upsample2d

SQRT2 = math.sqrt(2)
RESAMPLE_TAPS = [1, 3, 3, 1]


def bias_act(x: torch.Tensor, bias: torch.Tensor | None, act: str, gain: float = 1.0,
             clamp: float | None = None) -> torch.Tensor:
    """x + b, then leaky ReLU (slope 0.2) scaled by sqrt(2) or nothing, times gain, clipped."""
    if bias is not None:
        x = x + bias.reshape(1, -1, *([1] * (x.dim() - 2)))
    if act == "lrelu":
        x = F.leaky_relu(x, 0.2) * (SQRT2 * gain)
    elif gain != 1.0:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def channels_at(resolution: int, channel_base: int, channel_max: int) -> int:
    return min(channel_base // resolution, channel_max)


class EqualLinear(nn.Module):
    """Dense layer with equalised learning rate; lr_mult < 1 slows it down (the mapping: 0.01)."""

    def __init__(self, c_in: int, c_out: int, act: str = "linear", lr_mult: float = 1.0, bias_init: float = 0.0,
                 bias: bool = True):
        super().__init__()
        self.act = act
        self.weight = nn.Parameter(torch.randn(c_out, c_in) / lr_mult)
        self.bias = nn.Parameter(torch.full((c_out,), float(bias_init))) if bias else None
        self.weight_gain, self.bias_gain = lr_mult / math.sqrt(c_in), lr_mult

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = None if self.bias is None else self.bias * self.bias_gain
        return bias_act(x @ (self.weight * self.weight_gain).t(), b, self.act)


class MappingNetwork(nn.Module):
    """z -> w through `layers` dense layers; a class (one-hot through a dense embedding) is
    normalised and joined to the normalised z. With `num_ws`, w is repeated once per synthesis
    layer, and a running mean of w (w_avg, for truncation) is tracked while training."""

    def __init__(self, z_dim: int, num_classes: int, w_dim: int, num_ws: int | None, layers: int = 8,
                 lr_mult: float = 0.01, w_avg_beta: float | None = 0.995):
        super().__init__()
        self.z_dim, self.num_classes, self.num_ws, self.w_avg_beta = z_dim, num_classes, num_ws, w_avg_beta
        embed_dim = w_dim if num_classes else 0
        self.embed = EqualLinear(num_classes, embed_dim) if num_classes else None
        sizes = [z_dim + embed_dim] + [w_dim] * layers
        self.layers = nn.ModuleList(EqualLinear(a, b, "lrelu", lr_mult) for a, b in zip(sizes[:-1], sizes[1:]))
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor | None, y: torch.Tensor | None = None, truncation: float = 1.0,
                update_w_avg: bool = True) -> torch.Tensor:
        parts = [] if not self.z_dim else [normalize_2nd_moment(z.float())]
        if self.num_classes:
            parts.append(normalize_2nd_moment(self.embed(F.one_hot(y, self.num_classes).float())))
        x = torch.cat(parts, dim=1)
        for layer in self.layers:
            x = layer(x)
        if self.num_ws is None:
            return x
        if self.training and update_w_avg and self.w_avg_beta is not None:
            with torch.no_grad():
                self.w_avg.copy_(x.detach().mean(0).lerp(self.w_avg, self.w_avg_beta))
        x = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation != 1.0:  # pull every w towards the average: fewer odd samples, less variety
            x = self.w_avg.lerp(x, truncation)
        return x


def modulated_conv(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool = True,
                   up: bool = False, f: torch.Tensor | None = None, fused: bool = True) -> torch.Tensor:
    """Each sample's own weights: w'_oik = w_oik * s_i, demodulated by 1/sqrt(sum_ik w'^2 + 1e-8)
    so outputs have unit variance again. fused: one grouped conv over the batch with the
    per-sample weights; otherwise the equivalent scale-input, shared conv, scale-output (what the
    official code trains with: cheaper on GPUs for large batches)."""
    n, c_in = styles.shape
    c_out, _, k, _ = weight.shape
    w = weight[None] * styles.reshape(n, 1, c_in, 1, 1)
    dcoefs = (w.square().sum(dim=(2, 3, 4)) + 1e-8).rsqrt() if demodulate else None  # (n, c_out)
    conv = (lambda t, wt, g: conv_up2(t, wt, f, groups=g)) if up else (
        lambda t, wt, g: F.conv2d(t, wt, padding=k // 2, groups=g))
    if not fused:
        x = conv(x * styles.reshape(n, c_in, 1, 1), weight, 1)
        return x * dcoefs.reshape(n, c_out, 1, 1) if demodulate else x
    if demodulate:
        w = w * dcoefs.reshape(n, c_out, 1, 1, 1)
    x = conv(x.reshape(1, n * c_in, *x.shape[2:]), w.reshape(n * c_out, c_in, k, k), n)
    return x.reshape(n, c_out, *x.shape[2:])


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (optionally upsampling 2x), noise times a learned strength, bias, lrelu."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, resolution: int, up: bool = False,
                 conv_clamp: float | None = None):
        super().__init__()
        self.up, self.resolution, self.conv_clamp = up, resolution, conv_clamp
        self.affine = EqualLinear(w_dim, c_in, bias_init=1.0)  # styles start at 1: no modulation
        self.weight = nn.Parameter(torch.randn(c_out, c_in, 3, 3))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))  # noise_mode="const"
        self.register_buffer("filter", fir_filter(RESAMPLE_TAPS), persistent=False)

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random",
                generator: torch.Generator | None = None) -> torch.Tensor:
        # the official choice: per-sample weights in eval mode, the unfused form while training
        x = modulated_conv(x, self.weight, self.affine(w), up=self.up, f=self.filter, fused=not self.training)
        if noise_mode == "random":
            shape = (x.shape[0], 1, self.resolution, self.resolution)
            noise = torch.randn(shape, generator=generator, device=generator.device if generator else x.device)
            x = x + noise.to(x.device) * self.noise_strength
        elif noise_mode == "const":
            x = x + self.noise_const * self.noise_strength
        return bias_act(x, self.bias, "lrelu", clamp=self.conv_clamp)


class ToRGB(nn.Module):
    """Modulated 1x1 conv to image channels, without demodulation."""

    def __init__(self, c_in: int, img_channels: int, w_dim: int, conv_clamp: float | None = None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = EqualLinear(w_dim, c_in, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(img_channels, c_in, 1, 1))
        self.bias = nn.Parameter(torch.zeros(img_channels))
        self.weight_gain = 1 / math.sqrt(c_in)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        x = modulated_conv(x, self.weight, self.affine(w) * self.weight_gain, demodulate=False, fused=not self.training)
        return bias_act(x, self.bias, "linear", clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution: (the constant, or conv0 upsampling) -> conv1 -> toRGB added to the
    upsampled image so far. Uses num_conv + 1 ws; toRGB's is the next block's first."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, resolution: int, img_channels: int,
                 conv_clamp: float | None = None):
        super().__init__()
        self.first = c_in == 0
        if self.first:
            self.const = nn.Parameter(torch.randn(c_out, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(c_in, c_out, w_dim, resolution, up=True, conv_clamp=conv_clamp)
        self.conv1 = SynthesisLayer(c_out, c_out, w_dim, resolution, conv_clamp=conv_clamp)
        self.torgb = ToRGB(c_out, img_channels, w_dim, conv_clamp)
        self.num_conv = 1 if self.first else 2
        self.register_buffer("filter", fir_filter(RESAMPLE_TAPS), persistent=False)

    def forward(self, x, img, ws: torch.Tensor, noise_mode: str = "random", generator=None):
        if self.first:
            x = self.const[None].repeat(ws.shape[0], 1, 1, 1)
            x = self.conv1(x, ws[:, 0], noise_mode, generator)
        else:
            x = self.conv0(x, ws[:, 0], noise_mode, generator)
            x = self.conv1(x, ws[:, 1], noise_mode, generator)
        y = self.torgb(x, ws[:, self.num_conv])
        img = y if img is None else upsample2d(img, self.filter) + y
        return x, img


class StyleGAN2Generator(nn.Module):
    """G(z, y): mapping then synthesis. `truncation` (1 = none) applies in eval mode, set by
    `gan sample truncation=0.7`; `style_mixing` is the probability, per training batch, that
    the ws after a random layer come from a second z (mixing regularisation)."""

    def __init__(self, z_dim: int, img_channels: int, resolution: int, num_classes: int = 0, w_dim: int = 512,
                 mapping_layers: int = 8, mapping_lr: float = 0.01, channel_base: int = 32768,
                 channel_max: int = 512, conv_clamp: float | None = 256, style_mixing: float = 0.0,
                 w_avg_beta: float = 0.995):
        super().__init__()
        self.z_dim, self.num_classes, self.style_mixing = z_dim, num_classes, style_mixing
        self.truncation = 1.0
        # Noise inputs in eval mode (sample grids, scores, `gan sample`) come from this private
        # stream, so drawing samples never moves the training RNG (exact resume) and a fresh
        # process draws the same samples for the same z.
        self.eval_noise = torch.Generator().manual_seed(0)
        resolutions = [2**i for i in range(2, int(math.log2(resolution)) + 1)]
        blocks, c_prev = [], 0
        for res in resolutions:
            c = channels_at(res, channel_base, channel_max)
            blocks.append(SynthesisBlock(c_prev, c, w_dim, res, img_channels, conv_clamp))
            c_prev = c
        self.blocks = nn.ModuleList(blocks)
        self.num_ws = sum(b.num_conv for b in blocks) + 1
        self.mapping = MappingNetwork(z_dim, num_classes, w_dim, self.num_ws, mapping_layers, mapping_lr, w_avg_beta)

    def synthesis(self, ws: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        x = img = None
        i = 0
        generator = None if self.training else self.eval_noise
        for block in self.blocks:
            x, img = block(x, img, ws[:, i: i + block.num_conv + 1], noise_mode, generator)
            i += block.num_conv
        return img

    def mix_styles(self, ws: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """With probability style_mixing, ws from layer `cutoff` (uniform in 1..num_ws-1) on come
        from another z (the official loss's draw: one cutoff per batch)."""
        cutoff = int(torch.randint(1, self.num_ws, ()).item())
        if torch.rand(()).item() >= self.style_mixing:
            return ws
        other = self.mapping(torch.randn(ws.shape[0], self.z_dim, device=ws.device), y, update_w_avg=False)
        return torch.cat([ws[:, :cutoff], other[:, cutoff:]], dim=1)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None, noise_mode: str = "random") -> torch.Tensor:
        truncation = 1.0 if self.training else self.truncation
        ws = self.mapping(z, y, truncation)
        if self.training and self.style_mixing > 0:
            ws = self.mix_styles(ws, y)
        return self.synthesis(ws, noise_mode)


class ConvLayer(nn.Module):
    """D's conv: equalised weights, optionally filtered 2x downsampling, bias, activation."""

    def __init__(self, c_in: int, c_out: int, kernel: int, act: str = "lrelu", down: bool = False,
                 bias: bool = True, conv_clamp: float | None = None):
        super().__init__()
        self.act, self.down, self.conv_clamp = act, down, conv_clamp
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(c_out)) if bias else None
        self.weight_gain = 1 / math.sqrt(c_in * kernel * kernel)
        self.register_buffer("filter", fir_filter(RESAMPLE_TAPS), persistent=False)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = self.weight * self.weight_gain
        x = conv_down2(x, w, self.filter) if self.down else F.conv2d(x, w, padding=w.shape[-1] // 2)
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return bias_act(x, self.bias, self.act, gain, clamp)


class DBlock(nn.Module):
    """conv3x3 -> conv3x3 (down 2x); "resnet" adds a 1x1 downsampling shortcut, both halves
    scaled by sqrt(1/2). The first block reads the image through a 1x1 fromRGB."""

    def __init__(self, c_in: int, c_tmp: int, c_out: int, img_channels: int, architecture: str,
                 conv_clamp: float | None = None):
        super().__init__()
        self.residual = architecture == "resnet"
        self.fromrgb = ConvLayer(img_channels, c_tmp, 1, conv_clamp=conv_clamp) if c_in == 0 else None
        self.conv0 = ConvLayer(c_tmp, c_tmp, 3, conv_clamp=conv_clamp)
        self.conv1 = ConvLayer(c_tmp, c_out, 3, down=True, conv_clamp=conv_clamp)
        self.skip = ConvLayer(c_tmp, c_out, 1, act="linear", down=True, bias=False) if self.residual else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fromrgb is not None:
            x = self.fromrgb(x)
        if not self.residual:
            return self.conv1(self.conv0(x))
        shortcut = self.skip(x, gain=math.sqrt(0.5))
        return shortcut + self.conv1(self.conv0(x), gain=math.sqrt(0.5))


class Epilogue(nn.Module):
    """At 4x4: minibatch stddev, conv3x3, dense, and the output (cmap_dim wide when conditional)."""

    def __init__(self, c_in: int, cmap_dim: int, mbstd_group_size: int, conv_clamp: float | None = None):
        super().__init__()
        self.mbstd = MinibatchStddev(mbstd_group_size)
        self.conv = ConvLayer(c_in + 1, c_in, 3, conv_clamp=conv_clamp)
        self.fc = EqualLinear(c_in * 16, c_in, "lrelu")
        self.out = EqualLinear(c_in, cmap_dim or 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.fc(self.conv(self.mbstd(x)).flatten(1)))


class StyleGAN2Discriminator(nn.Module):
    """D(x, y) -> (N,) logits. Conditional: <out(x), cmap(y)> / sqrt(cmap_dim), cmap from an
    8-layer mapping network over the one-hot class (as the official code)."""

    def __init__(self, img_channels: int, resolution: int, num_classes: int = 0, architecture: str = "resnet",
                 channel_base: int = 32768, channel_max: int = 512, mbstd_group_size: int = 4,
                 conv_clamp: float | None = 256, mapping_layers: int = 8, mapping_lr: float = 0.01):
        super().__init__()
        ch = lambda r: channels_at(r, channel_base, channel_max)  # noqa: E731
        resolutions = [2**i for i in range(int(math.log2(resolution)), 2, -1)]
        self.blocks = nn.ModuleList(
            DBlock(ch(r) if r < resolution else 0, ch(r), ch(r // 2), img_channels, architecture, conv_clamp)
            for r in resolutions)
        self.num_classes = num_classes
        self.cmap_dim = ch(4) if num_classes else 0
        self.mapping = (MappingNetwork(0, num_classes, self.cmap_dim, None, mapping_layers, mapping_lr, None)
                        if num_classes else None)
        self.epilogue = Epilogue(ch(4), self.cmap_dim, mbstd_group_size, conv_clamp)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        out = self.epilogue(x)
        if self.mapping is not None:
            if y is None:
                raise GanError("this discriminator is class-conditional: it needs class labels")
            out = (out * self.mapping(None, y)).sum(dim=1, keepdim=True) / math.sqrt(self.cmap_dim)
        return out.squeeze(1)
