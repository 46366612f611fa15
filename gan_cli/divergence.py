"""Spotting divergence early without stalling the device, and keeping non-finite state out of
checkpoints.

The trainer keeps running sums of its losses on the device, read once per log interval. A sum
turns non-finite at the first step whose loss does and stays so (nan + x = nan, inf + x = inf),
so one flag per step, `isfinite(d/loss + g/loss)`, says whether anything went wrong so far in
the interval. On a GPU the flag is copied to pinned host memory without waiting and read once a
CUDA event says the copy has landed, usually a step or two later: no host sync is added to the
step. On the CPU there is no queue to stall, so the flag is read at once.
"""

from __future__ import annotations

import math
from collections import deque
from pathlib import Path

import torch

from gan_cli.errors import DivergenceError

WATCHED = ("d/loss", "g/loss")


class DivergenceWatch:
    def __init__(self, device: torch.device, depth: int = 16):
        self.cuda = device.type == "cuda"
        self.depth = depth
        self.pending: deque[tuple[int, int]] = deque()  # (step, slot) of checks still in flight
        if self.cuda:
            self.flags = [torch.ones((), dtype=torch.bool, pin_memory=True) for _ in range(depth)]
            self.events = [torch.cuda.Event() for _ in range(depth)]
            self.next_slot = 0

    def post(self, step: int, sums: dict[str, torch.Tensor]) -> int | None:
        """Queue the check of the running sums after `step`; return the first step found
        non-finite among the checks that have landed, or None."""
        parts = [sums[key] for key in WATCHED if key in sums]
        if not parts:
            return self.poll()
        finite = torch.isfinite(sum(parts))
        if not self.cuda:
            return None if bool(finite) else step
        if len(self.pending) == self.depth:
            # The device is `depth` steps behind: wait for the oldest check, whose slot is next.
            oldest_step, slot = self.pending.popleft()
            self.events[slot].synchronize()
            if not bool(self.flags[slot]):
                return oldest_step
        slot = self.next_slot
        self.next_slot = (slot + 1) % self.depth
        self.flags[slot].copy_(finite, non_blocking=True)
        self.events[slot].record()
        self.pending.append((step, slot))
        return self.poll()

    def poll(self) -> int | None:
        while self.pending and self.events[self.pending[0][1]].query():
            step, slot = self.pending.popleft()
            if not bool(self.flags[slot]):
                return step
        return None


def named_tensors(obj, prefix: str = "") -> list[tuple[str, torch.Tensor]]:
    """Every tensor in nested dicts and lists, with a dotted path as its name."""
    if isinstance(obj, torch.Tensor):
        return [(prefix, obj)]
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, (list, tuple)) else ()
    found = []
    for key, value in items:
        found += named_tensors(value, f"{prefix}.{key}" if prefix else str(key))
    return found


def first_nonfinite(named: list[tuple[str, torch.Tensor]]) -> str | None:
    """The name of the first floating tensor holding nan or inf; one host sync when all are finite."""
    floats = [(name, t) for name, t in named if t.is_floating_point() and t.numel()]
    if not floats:
        return None
    if bool(torch.stack([t.isfinite().all().to(floats[0][1].device) for _, t in floats]).all()):
        return None
    return next(name for name, t in floats if not bool(t.isfinite().all()))


def nonfinite_sum(sums: dict[str, torch.Tensor]) -> tuple[str, float]:
    """Which running loss sum went non-finite, and its value, once the watch has seen one did."""
    values = {k: float(v) for k, v in sums.items()}
    key = next((k for k, v in values.items() if not math.isfinite(v)), "d/loss + g/loss")
    return key, values.get(key, math.nan)


def divergence_error(step: int, key: str, value, optim, last_checkpoint: Path | None, resume: str) -> DivergenceError:
    """What stops a diverged run: where it went wrong, and how to go on with half the learning
    rates `optim` (the run's optim config) gave; `resume` is the command that continues the run."""
    lower = f"optim.g.lr={optim.g.lr / 2:g} optim.d.lr={optim.d.lr / 2:g}"
    if last_checkpoint is not None:
        fix = f"the last good checkpoint is {last_checkpoint}; continue from it with lower learning rates: {resume} {lower}"
    else:
        fix = f"no checkpoint was written yet; start again with lower learning rates ({lower}) or another loss"
    return DivergenceError(f"training diverged at step {step}: {key} is {value}; {fix}")
