"""Device, precision, seeding and stop signals: the few facts about the machine and the process
the trainer needs."""

from __future__ import annotations

import contextlib
import logging
import random
import signal

import numpy as np
import torch

from gan_cli import distributed
from gan_cli.errors import GanError

log = logging.getLogger("gan")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise GanError(f"device={name} is not a device: use auto, cpu, cuda or cuda:N") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GanError(f"device={name} but no CUDA GPU is visible: use device=cpu (or auto)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise GanError("device=mps but MPS is not available: use device=cpu (or auto)")
    return device


def use_fast_cuda(device: torch.device, cudnn_benchmark: bool) -> None:
    """cuDNN's autotuner as `trainer.cudnn_benchmark` says, and TF32 matmuls and convolutions."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = cudnn_benchmark
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def budget_spent(elapsed: float, max_minutes: float | None) -> float:
    """The share of `trainer.max_minutes` that `elapsed` training seconds used (0 without a budget;
    1 or more: spent). Under torchrun the ranks agree on the largest share (in thousandths), so it
    is asked at log steps only: the learning-rate decay and the stop follow it on every rank alike."""
    if max_minutes is None:
        return 0.0
    budget = 60 * max_minutes
    share = elapsed / budget if budget > 0 else float(elapsed > 0)  # max_minutes=0: spent at once
    return distributed.max_int(int(1000 * share)) / 1000


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def native_cpu_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX): there oneDNN's bf16
    convolutions run about twice as fast as float32; elsewhere bf16 is emulated, and slower."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # private: absent in some builds
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def autocast_dtype(amp: str, device: torch.device, conv_net: bool = False) -> torch.dtype | None:
    """The autocast dtype for `trainer.amp`. auto: bf16 on GPUs that support it natively (fp16 on
    older ones), and bf16 for conv nets on CPUs that compute it natively (the default recipe's step
    takes about 0.65x the time, at the same FID: docs/recipe.md); float32 otherwise (MLPs, whose
    2-D toy points need float32's precision, and CPUs that would only emulate bf16)."""
    if amp == "off":
        return None
    if amp == "auto":
        if device.type == "cuda":
            # Native bf16 (Ampere and later); older GPUs would only emulate it, slowly: fp16 there.
            return torch.bfloat16 if torch.cuda.is_bf16_supported(including_emulation=False) else torch.float16
        if device.type == "cpu" and conv_net and native_cpu_bf16():
            return torch.bfloat16
        return None
    if amp == "bf16":
        return torch.bfloat16
    if amp == "fp16":
        if device.type != "cuda":
            raise GanError("trainer.amp=fp16 needs a CUDA GPU: use trainer.amp=bf16 or off on the CPU")
        return torch.float16
    raise GanError(f"trainer.amp={amp}: choose auto, bf16, fp16 or off")


def use_channels_last(setting: str, device: torch.device, conv_net: bool) -> bool:
    """`trainer.channels_last`: NHWC tensors let cuDNN use tensor-core kernels without
    transposes; auto turns it on for conv nets on GPUs only. On a CPU the gain depends on the net
    (5-20 % for the default recipe's DCGAN, which sets it: docs/recipe.md), so it is asked for there."""
    setting = str(setting).lower()  # `trainer.channels_last=true` arrives as "True"
    if setting not in ("auto", "true", "false"):
        raise GanError(f"trainer.channels_last={setting}: choose auto, true or false")
    if setting == "auto":
        return conv_net and device.type == "cuda"
    return setting == "true" and conv_net


def autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


class StopSignals:
    """While a run trains (`with StopSignals() as stop:`), SIGINT, SIGTERM and SIGUSR2 ask it to
    stop after the step in progress, with a checkpoint; a second one stops it at once
    (KeyboardInterrupt). The previous handlers come back on `restore()` or at the end of the
    block, however the run ends: the next job of a sweep gets the usual Ctrl-C back."""

    def __init__(self):
        self.signal: int | None = None  # the first one received
        self._previous: dict = {}

    def __enter__(self) -> StopSignals:
        # SIGUSR2: Slurm's warning before the time limit (the submitit launcher asks for it with
        # --signal=USR2@signal_delay_s; its own handler would end the job without a checkpoint).
        for sig in (signal.SIGINT, signal.SIGTERM, *([signal.SIGUSR2] if hasattr(signal, "SIGUSR2") else [])):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread (e.g. some launchers): leave defaults
                pass
        return self

    def __exit__(self, *exc) -> None:
        self.restore()

    def _handle(self, signum, frame) -> None:
        if self.signal is not None:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.signal = signum
        log.warning("%s received: finishing this step and writing a checkpoint", signal.Signals(signum).name)

    def restore(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous = {}

    def agreed(self, measure: bool) -> bool:
        """Stop after a signal. Ranks may get it at different steps, so under torchrun they agree
        (and stop together) at the next log step (`measure`): a collective in every step would
        cost more."""
        if distributed.world_size() == 1:
            return self.signal is not None
        if not measure:
            return False
        self.signal = distributed.max_int(self.signal or 0) or None
        return self.signal is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signal).name
