"""What a run records: loss sums on the device, metrics.jsonl rows, scores.jsonl, summary.json.

The step adds its losses to on-device sums (`record_phase`, one fused add) and never waits for
the device; `means` reads them once per log interval, the run's one host sync. The rows go to
the loggers (gan_cli/loggers.py: the `jsonl` logger writes metrics.jsonl, others what they
log). Only rank 0 writes files: the other ranks get a logger that does nothing.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import torch

from gan_cli import distributed, run_status
from gan_cli.loggers import RunLogger


class RunLog:
    def __init__(self, run_dir: Path, logger: RunLogger, identity: dict, subset=None):
        self.run_dir = run_dir
        self.logger = logger
        self.identity = identity  # what every summary.json starts with: run_dir, seed, device, ...
        self.subset = subset  # dataset.limit: which images, so runs can be compared
        self.sums: dict[str, torch.Tensor] = {}  # the log interval in progress, on the device
        self.steps = 0  # steps in those sums

    # ------------------------------------------------------------------ the sums
    def record_phase(self, phase: str, total: torch.Tensor, terms) -> None:
        """A phase's total, terms and statistics, added to the sums in one fused op (one small
        add per value is measurable on a millisecond step)."""
        values = {f"{phase}/loss": total, **{f"{phase}/{k}": v for k, v in {**terms.losses, **terms.stats}.items()}}
        if all(k in self.sums for k in values):
            with torch.no_grad():  # no detach() per value: in-place adds outside autograd
                torch._foreach_add_([self.sums[k] for k in values],
                                    [v if v.dtype == torch.float32 else v.float() for v in values.values()])
        else:
            for k, v in values.items():
                self.record(k, v)

    def record(self, key: str, value: torch.Tensor) -> None:
        """Accumulate on the device; read once per log interval (no host sync in the step)."""
        value = value.detach().float()
        if key in self.sums:
            self.sums[key] += value
        else:
            self.sums[key] = value.clone()

    def record_grad_norm(self, key: str, module: torch.nn.Module) -> None:
        """The norm of all of `module`'s gradients, on the device (0 when it has none)."""
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))) if grads else torch.zeros(())
        self.record(key, norm)

    def means(self) -> dict[str, float]:
        """The interval's means, and a new interval. The one host sync; under torchrun the mean
        over ranks, so every rank takes the same decisions with them."""
        keys = list(self.sums)
        values = distributed.mean(torch.stack([self.sums[k] for k in keys])).tolist() if keys else []
        # grad norms are measured on the last step of the interval only
        means = {k: v if k.endswith("grad_norm") else v / self.steps for k, v in zip(keys, values)}
        self.sums.clear()
        self.steps = 0
        return means

    def state_dict(self) -> dict:
        """The interval in progress, so a resumed run logs the same rows."""
        return {"sums": dict(self.sums), "steps": self.steps}

    def load_state_dict(self, state: dict, device: torch.device) -> None:
        if distributed.world_size() == 1:  # the sums are rank 0's own: other ranks start the interval afresh
            self.sums = {k: v.to(device) for k, v in state.get("sums", {}).items()}
            self.steps = int(state.get("steps", 0))

    # ------------------------------------------------------------------ the files
    def scores(self, step: int, final: bool, scores: dict) -> None:
        with open(self.run_dir / "scores.jsonl", "a") as f:
            f.write(json.dumps(finite_or_none({"step": step, "final": final, **scores})) + "\n")
        self.logger.scores(step, scores)

    def summary(self, summary: dict) -> None:
        """summary.json, atomically: the run's status and, once finished, its results."""
        if not distributed.is_main():
            return
        history = run_status.read_summary(self.run_dir).get("resumes")  # written by train.resume_run
        summary = {**self.identity, **summary, **({"resumes": history} if history else {})}
        if self.subset:
            summary["dataset_subset"] = self.subset
        tmp = self.run_dir / ".summary.json.tmp"
        tmp.write_text(json.dumps(finite_or_none(summary), indent=2))
        os.replace(tmp, self.run_dir / "summary.json")

    def end(self, summary: dict) -> None:
        """The run's last summary.json, then the loggers close (a tracker records the status it reads there)."""
        self.summary(summary)
        self.logger.close()


def finite_or_none(obj):
    """JSON has no inf/nan: write them as null (strict readers such as jq reject Infinity)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [finite_or_none(v) for v in obj]
    return obj
