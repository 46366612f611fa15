"""Experiment loggers: where the trainer's log rows, scores and sample grids go.

`logger=jsonl` (default, and always on in a run: gan_cli/run_log.py) writes each log row to
`<run>/metrics.jsonl`; `logger=tensorboard` also writes TensorBoard event files to
`<run>/tensorboard/`: losses and throughput, scores, and every sample grid (or scatter plot).
`logger=mlflow` and `logger=wandb` log the same to those trackers (gan_cli/trackers.py); a list
(`logger=[tensorboard,mlflow]`) logs to each.
"""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import ListConfig

from gan_cli.errors import GanError

LOGGERS = ("jsonl", "tensorboard", "mlflow", "wandb")


class RunLogger:
    """The interface; it logs nothing (the logger of ranks other than 0)."""

    def open(self, step: int) -> None:
        """Called when training (re)starts at `step`."""

    def metrics(self, step: int, row: dict) -> None:
        """One metrics.jsonl row: losses, D outputs, grad norms, images_per_s."""

    def scores(self, step: int, scores: dict) -> None:
        """One evaluation: FID, IS, ... or the 2-D mode counts."""

    def samples(self, step: int, path: Path) -> None:
        """A sample grid (or scatter plot) just written as a PNG."""

    def close(self) -> None:
        pass


class JsonlLogger(RunLogger):
    """`logger=jsonl`: one metrics.jsonl line per log row (appended: a resumed run continues the
    file train.py truncated to its checkpoint)."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / "metrics.jsonl"

    def metrics(self, step: int, row: dict) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")


class TensorBoardLogger(RunLogger):
    def __init__(self, log_dir: Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise GanError("logger=tensorboard needs the tensorboard package: pip install tensorboard "
                           "(or gan-cli[tensorboard]), or use logger=jsonl") from None
        self._writer_class = SummaryWriter
        self.log_dir = log_dir
        self.writer = None

    def open(self, step: int) -> None:
        # On resume, events a killed run logged after its last checkpoint are dropped, as
        # metrics.jsonl is truncated: the curves read as one run.
        self.writer = self._writer_class(str(self.log_dir), purge_step=step + 1 if step > 0 else None)

    def _w(self):
        if self.writer is None:  # used outside `fit` (an evaluation on its own)
            self.writer = self._writer_class(str(self.log_dir))
        return self.writer

    def metrics(self, step: int, row: dict) -> None:
        for key, value in row.items():
            if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                self._w().add_scalar(key if "/" in key else f"perf/{key}", value, step)
        self._w().flush()  # a killed run keeps what it logged, as metrics.jsonl does

    def scores(self, step: int, scores: dict) -> None:
        for key, value in scores.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self._w().add_scalar(f"scores/{key}", value, step)
        self._w().flush()

    def samples(self, step: int, path: Path) -> None:
        import numpy as np
        from PIL import Image

        with Image.open(path) as image:
            self._w().add_image("samples", np.asarray(image.convert("RGB")), step, dataformats="HWC")
        self._w().flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class Loggers(RunLogger):
    """Several loggers at once (`logger=[tensorboard,mlflow]`): each call goes to every one."""

    def __init__(self, loggers: list[RunLogger]):
        self.loggers = loggers

    def open(self, step: int) -> None:
        for logger in self.loggers:
            logger.open(step)

    def metrics(self, step: int, row: dict) -> None:
        for logger in self.loggers:
            logger.metrics(step, row)

    def scores(self, step: int, scores: dict) -> None:
        for logger in self.loggers:
            logger.scores(step, scores)

    def samples(self, step: int, path: Path) -> None:
        for logger in self.loggers:
            logger.samples(step, path)

    def close(self) -> None:
        for logger in self.loggers:
            logger.close()


def logger_names(value) -> list[str]:
    """`logger=mlflow` or `logger=[tensorboard,mlflow]` as a list of known names, checked before
    any work starts."""
    if isinstance(value, str):
        names = [value]
    elif isinstance(value, (list, tuple, ListConfig)):
        names = [str(v) for v in value]
    else:
        raise GanError(f"logger={value}: give a name or a list of names, e.g. logger=[tensorboard,mlflow]")
    unknown = [name for name in names if name not in LOGGERS]
    if unknown:
        raise GanError(f"logger={unknown[0]} is unknown: use one of {', '.join(LOGGERS)} (or a list of them)")
    return list(dict.fromkeys(names))


def build_logger(names, run_dir: Path, cfg=None) -> RunLogger:
    """The logger(s) named by `logger=`; `cfg` (the run's config) is what the trackers record as
    parameters, and holds their options (`tracker.*`)."""
    loggers = []
    for name in logger_names(names):
        if name == "jsonl":
            loggers.append(JsonlLogger(Path(run_dir)))
        elif name == "tensorboard":
            loggers.append(TensorBoardLogger(Path(run_dir) / "tensorboard"))
        elif name in ("mlflow", "wandb"):
            from gan_cli import trackers

            tracker_cls = trackers.MLflowLogger if name == "mlflow" else trackers.WandbLogger
            loggers.append(tracker_cls(Path(run_dir), cfg))
    return loggers[0] if len(loggers) == 1 else Loggers(loggers)
