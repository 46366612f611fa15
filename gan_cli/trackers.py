"""Experiment trackers as loggers (gan_cli/loggers.py): `logger=mlflow` and `logger=wandb`.

Each records the run's resolved config as parameters, every metrics.jsonl row as scalars, the
scores as scalars with their provenance (extractor, sample counts, reference set) as tags, and
every sample grid as an image. Both work without a server: MLflow writes a local file store
(`mlruns/` in the folder gan runs from, or `tracker.tracking_uri=...`), W&B logs offline into the
run folder with `WANDB_MODE=offline` (and does so by itself when no W&B login is found).

A resumed run continues the same tracker run: its id is kept in the run folder.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from omegaconf import OmegaConf

from gan_cli.errors import GanError
from gan_cli.loggers import RunLogger

log = logging.getLogger("gan")

# summary.json's status -> MLflow's run status, recorded when the logger closes.
MLFLOW_STATUS = {"finished": "FINISHED", "diverged": "FAILED", "failed": "FAILED"}


def flatten(data, prefix: str = "") -> dict:
    """{"optim": {"g": {"lr": 2e-4}}} -> {"optim.g.lr": 2e-4}; lists stay values."""
    if not isinstance(data, dict):
        return {prefix: data}
    out = {}
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        out.update(flatten(value, name) if isinstance(value, dict) and value else {name: value})
    return out


def resolved_config(cfg) -> dict:
    return OmegaConf.to_container(cfg, resolve=True) if cfg is not None else {}


def numbers(row: dict) -> dict[str, float]:
    """The numeric entries of a metrics or scores row (not the step, not null, not provenance)."""
    return {k: float(v) for k, v in row.items()
            if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool)}


def run_status(run_dir: Path) -> str:
    try:
        return str(json.loads((run_dir / "summary.json").read_text()).get("status", "running"))
    except (OSError, ValueError, AttributeError):
        return "running"


def _import(name: str):
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        extra = name.split(".")[0]
        raise GanError(f"logger={extra} needs the {extra} package: pip install 'gan-cli[{extra}]', "
                       "or leave it out of logger=") from None


class TrackerLogger(RunLogger):
    """A tracker must not cost a run: a failure to start is bad input (one line, before training);
    a failure later is reported once and the tracker is left out for the rest of the run
    (metrics.jsonl and scores.jsonl hold everything anyway)."""

    name = "tracker"
    broken = False

    def open(self, step: int) -> None:
        try:
            self._open(step)
        except GanError:
            raise
        except Exception as e:  # noqa: BLE001  (any library's error: said in one line)
            raise GanError(f"logger={self.name} could not start its run ({type(e).__name__}: {e}): "
                           f"check tracker.* or leave {self.name} out of logger=") from None

    def _guarded(self, method, *args) -> None:
        if self.broken:
            return
        try:
            method(*args)
        except Exception as e:  # noqa: BLE001
            self.broken = True
            log.warning("logger=%s failed (%s: %s); training goes on without it (metrics.jsonl has every value)",
                        self.name, type(e).__name__, e)

    def metrics(self, step: int, row: dict) -> None:
        self._guarded(self._metrics, step, row)

    def scores(self, step: int, scores: dict) -> None:
        self._guarded(self._scores, step, scores)

    def samples(self, step: int, path: Path) -> None:
        self._guarded(self._samples, step, path)

    def close(self) -> None:
        self._guarded(self._close)


class MLflowLogger(TrackerLogger):
    """Through MLflow's client API (no global "active run": several runs in one process, as in a
    sweep, stay apart)."""

    name = "mlflow"
    ID_FILE = ".mlflow_run_id"

    def __init__(self, run_dir: Path, cfg):
        tracking = _import("mlflow.tracking")
        self.entities = _import("mlflow.entities")
        self.run_dir = run_dir
        tracker = cfg.tracker if cfg is not None else None
        uri = (tracker.tracking_uri if tracker is not None else None) or (Path.cwd() / "mlruns").as_uri()
        if "://" not in uri or uri.startswith("file:"):
            # MLflow 3 keeps its file store in maintenance and refuses it unless told: it is
            # still what needs no database and no server, so it stays the default here.
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        try:
            self.client = tracking.MlflowClient(tracking_uri=uri)
        except Exception as e:  # noqa: BLE001  (an unknown scheme, a missing database driver, ...)
            raise GanError(f"logger=mlflow cannot use tracker.tracking_uri={uri} ({type(e).__name__}: {e}): "
                           "pass a file path, sqlite:///FILE.db or http(s)://server") from None
        self.project = tracker.project if tracker is not None else "gan"
        self.params = flatten(resolved_config(cfg))
        self.run_id = None

    def _open(self, step: int) -> None:
        if self.run_id is not None:
            return
        id_file = self.run_dir / self.ID_FILE
        if id_file.is_file():  # a resumed run: same MLflow run, its curves continue
            self.run_id = id_file.read_text().strip()
            self.client.update_run(self.run_id, status="RUNNING")
            return
        experiment = self.client.get_experiment_by_name(self.project)
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(self.project)
        run = self.client.create_run(experiment_id, run_name=self.run_dir.name,
                                     tags={"gan.run_dir": str(self.run_dir)})
        self.run_id = run.info.run_id
        id_file.write_text(self.run_id)
        Param = self.entities.Param
        # MLflow caps a parameter value at 6000 characters; long lists are cut, not refused.
        params = [Param(k, str(v)[:6000]) for k, v in self.params.items()]
        for i in range(0, len(params), 100):  # log_batch takes at most 100 parameters a call
            self.client.log_batch(self.run_id, params=params[i:i + 100])

    def _log(self, step: int, values: dict[str, float], tags: dict | None = None) -> None:
        self._open(0)
        now = int(time.time() * 1000)
        metrics = [self.entities.Metric(k, v, now, step) for k, v in values.items()]
        tag_list = [self.entities.RunTag(k, str(v)[:5000]) for k, v in (tags or {}).items()]
        self.client.log_batch(self.run_id, metrics=metrics, tags=tag_list)

    def _metrics(self, step: int, row: dict) -> None:
        self._log(step, numbers(row))

    def _scores(self, step: int, scores: dict) -> None:
        provenance = flatten(scores.get("provenance") or {}, "provenance")
        self._log(step, {f"scores/{k}": v for k, v in numbers(scores).items()}, provenance)

    def _samples(self, step: int, path: Path) -> None:
        self._open(0)
        self.client.log_artifact(self.run_id, str(path), artifact_path="samples")

    def _close(self) -> None:
        if self.run_id is None:
            return
        status = run_status(self.run_dir)
        self.client.set_tag(self.run_id, "gan.status", status)
        self.client.set_terminated(self.run_id, MLFLOW_STATUS.get(status, "KILLED"))
        self.run_id = None


class WandbLogger(TrackerLogger):
    """W&B's files go into the run folder (`<run>/wandb/`)."""

    name = "wandb"
    ID_FILE = ".wandb_run_id"

    def __init__(self, run_dir: Path, cfg):
        self.wandb = _import("wandb")
        self.run_dir = run_dir
        self.config = resolved_config(cfg)
        tracker = cfg.tracker if cfg is not None else None
        self.project = tracker.project if tracker is not None else "gan"
        self.run = None

    def _mode(self) -> str:
        """WANDB_MODE when set; else online only with a W&B login (never an interactive prompt)."""
        if os.environ.get("WANDB_MODE"):
            return os.environ["WANDB_MODE"]
        return "online" if os.environ.get("WANDB_API_KEY") else "offline"

    def _open(self, step: int) -> None:
        if self.run is not None:
            return
        id_file = self.run_dir / self.ID_FILE
        run_id = id_file.read_text().strip() if id_file.is_file() else None
        self.run = self.wandb.init(project=self.project, name=self.run_dir.name, dir=str(self.run_dir),
                                   config=self.config, id=run_id, resume="allow" if run_id else None,
                                   mode=self._mode(), settings=self.wandb.Settings(silent=True))
        id_file.write_text(self.run.id)

    def _metrics(self, step: int, row: dict) -> None:
        self._open(0)
        self.run.log(numbers(row), step=step)

    def _scores(self, step: int, scores: dict) -> None:
        self._open(0)
        self.run.log({f"scores/{k}": v for k, v in numbers(scores).items()}, step=step)
        provenance = flatten(scores.get("provenance") or {}, "provenance")
        if provenance:  # W&B's tags are short labels: provenance goes into the run's config
            self.run.config.update(provenance, allow_val_change=True)

    def _samples(self, step: int, path: Path) -> None:
        self._open(0)
        self.run.log({"samples": self.wandb.Image(str(path))}, step=step)

    def _close(self) -> None:
        if self.run is None:
            return
        status = run_status(self.run_dir)
        self.run.summary["gan.status"] = status
        self.run.finish(exit_code=0 if status in ("finished", "running") else 1)
        self.run = None
        # finish() may return before W&B's service has written the run's last records (seen
        # offline with wandb 0.31): stopping the service waits for it. A later run starts another.
        self.wandb.teardown()
