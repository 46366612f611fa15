"""logger=mlflow and logger=wandb, read back through each library's own API: MLflow's client, and
W&B's offline run file decoded with W&B's own protobuf records. Marker `tracker`; each test skips
when its package is missing (`pip install -e '.[mlflow]'` / `'.[wandb]'`). The name and list
handling needs neither and runs in the fast suite."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import pytest
from PIL import Image

from gan_cli.errors import GanError
from gan_cli.loggers import JsonlLogger, Loggers, RunLogger, build_logger, logger_names
from gan_cli.trackers import flatten
from tests.conftest import make_cfg

SCORES = {"modes": 7, "reverse_kl": 0.25, "hq_fraction": None,
          "provenance": {"extractor": "toy2d", "num_samples": 2500, "seed": 0}}


def test_logger_names_and_lists():
    assert logger_names("mlflow") == ["mlflow"]
    assert logger_names(["tensorboard", "mlflow", "tensorboard"]) == ["tensorboard", "mlflow"]
    with pytest.raises(GanError, match=r"logger=\{'a': 1\}: give a name or a list of names"):
        logger_names({"a": 1})
    assert type(build_logger(["jsonl"], Path("."))) is JsonlLogger


def test_a_missing_tracker_package_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(GanError, match=r"logger=mlflow needs the mlflow package: pip install 'gan-cli\[mlflow\]'"):
        build_logger("mlflow", tmp_path, make_cfg(["logger=mlflow"]))
    with pytest.raises(GanError, match=r"logger=wandb needs the wandb package: pip install 'gan-cli\[wandb\]'"):
        build_logger(["jsonl", "wandb"], tmp_path, make_cfg())


def test_the_config_takes_a_name_or_a_list():
    assert make_cfg(["logger=[tensorboard,mlflow]", "tracker.tracking_uri=sqlite:///x.db"]).logger == ["tensorboard", "mlflow"]
    assert make_cfg(["logger=mlflow"]).tracker.project == "gan"


def test_flatten():
    assert flatten({"optim": {"g": {"lr": 2e-4, "betas": [0.5, 0.9]}}, "tricks": {}}) == {
        "optim.g.lr": 2e-4, "optim.g.betas": [0.5, 0.9], "tricks": {}}


def grid(tmp_path: Path) -> Path:
    png = tmp_path / "grid.png"
    Image.new("RGB", (30, 20), (0, 128, 255)).save(png)
    return png


def log_a_tiny_run(logger, run_dir: Path, png: Path) -> None:
    logger.open(0)
    for step in (5, 10):
        logger.metrics(step, {"step": step, "images_per_s": 100.0, "d/loss": 1.0 + step, "g/loss": 0.5})
    logger.samples(10, png)
    logger.scores(10, SCORES)
    (run_dir / "summary.json").write_text(json.dumps({"status": "finished"}))
    logger.close()


@pytest.mark.tracker
def test_mlflow_round_trip(tmp_path, monkeypatch):
    pytest.importorskip("mlflow", reason="needs mlflow: pip install 'gan-cli[mlflow]'")
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)  # the default store: mlruns/ here
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    cfg = make_cfg(["dataset=ring", "arch=mlp", "logger=mlflow", "optim.g.lr=3e-4"])
    log_a_tiny_run(build_logger(cfg.logger, run_dir, cfg), run_dir, grid(tmp_path))

    client = MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    (run,) = client.search_runs([client.get_experiment_by_name("gan").experiment_id])
    assert run.info.run_name == "run" and run.info.status == "FINISHED"
    assert run.data.params["optim.g.lr"] == "0.0003" and run.data.params["dataset.name"] == "ring"
    history = client.get_metric_history(run.info.run_id, "d/loss")
    assert [(m.step, m.value) for m in history] == [(5, 6.0), (10, 11.0)]
    assert run.data.metrics["scores/modes"] == 7 and "scores/hq_fraction" not in run.data.metrics  # null: no value
    assert run.data.tags["provenance.extractor"] == "toy2d" and run.data.tags["provenance.num_samples"] == "2500"
    assert run.data.tags["gan.status"] == "finished"
    (artifact,) = client.list_artifacts(run.info.run_id, "samples")
    assert artifact.path == "samples/grid.png" and artifact.file_size == grid(tmp_path).stat().st_size

    # a resumed run continues the same MLflow run
    logger = build_logger("mlflow", run_dir, cfg)
    logger.open(10)
    logger.metrics(15, {"step": 15, "d/loss": 16.0})
    logger.close()
    assert [m.step for m in client.get_metric_history(run.info.run_id, "d/loss")] == [5, 10, 15]
    assert len(client.search_runs([run.info.experiment_id])) == 1


def wandb_records(run_dir: Path) -> list:
    """The records of a W&B offline run file (`run-<id>.wandb`): W&B's protobuf `Record`s in
    LevelDB's log framing (32 KiB blocks; each chunk: crc32 (4), length (2), type (1); type 1 is
    a whole record, 2/3/4 its first/middle/last part). wandb 0.31 ships no Python reader."""
    from wandb.proto import wandb_internal_pb2

    (path,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    data, block, pos, part, records = path.read_bytes(), 32768, 7, b"", []  # 7: the file header
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a chunk header is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        part += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(part)
            records.append(record)
            part = b""
    return records


@pytest.mark.tracker
def test_wandb_offline_round_trip(tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason="needs wandb: pip install 'gan-cli[wandb]'")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    cfg = make_cfg(["dataset=ring", "arch=mlp", "logger=wandb", "optim.g.lr=3e-4"])
    log_a_tiny_run(build_logger(cfg.logger, run_dir, cfg), run_dir, grid(tmp_path))

    records = wandb_records(run_dir)
    assert [r.WhichOneof("record_type") for r in records][-1] == "exit"  # all of it on disk when close() returns
    (run,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    config = {u.key: json.loads(u.value_json) for u in run.config.update}
    assert run.display_name == "run" and config["optim"]["g"]["lr"] == 3e-4
    history = [{("/".join(i.nested_key) or i.key): i.value_json for i in r.history.item}
               for r in records if r.WhichOneof("record_type") == "history"]
    by_step = {json.loads(h["_step"]): h for h in history}
    assert json.loads(by_step[5]["d/loss"]) == 6.0 and json.loads(by_step[10]["d/loss"]) == 11.0
    assert json.loads(by_step[10]["scores/modes"]) == 7 and "scores/hq_fraction" not in by_step[10]
    assert json.loads(by_step[10]["samples/_type"]) == "image-file"
    image = run_dir / "wandb" / next(run_dir.glob("wandb/offline-run-*")).name / "files" / json.loads(by_step[10]["samples/path"])
    assert Image.open(image).size == (30, 20)
    updates = {u.key: json.loads(u.value_json) for r in records if r.WhichOneof("record_type") == "config"
               for u in r.config.update}
    assert updates["provenance.extractor"] == "toy2d" and updates["provenance.num_samples"] == 2500


@pytest.mark.tracker
def test_a_real_run_logs_to_several_trackers(gan, tmp_path, monkeypatch):
    """`logger=[mlflow,wandb]` (and tensorboard when installed) on a real tiny run: what MLflow
    holds is metrics.jsonl."""
    import importlib.util

    for package in ("mlflow", "wandb"):
        pytest.importorskip(package, reason=f"needs {package}: pip install 'gan-cli[{package}]'")
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # to read the file store here (gan sets it itself)
    tensorboard = importlib.util.find_spec("tensorboard") is not None
    loggers = ",".join(["tensorboard"] * tensorboard + ["mlflow", "wandb"])

    result = gan("train", "dataset=ring", "arch=mlp", "trainer.steps=10", "trainer.log_every=5", "trainer.eval_every=10",
                 "trainer.sample_every=10", "trainer.progress=false", f"logger=[{loggers}]",
                 "hydra.run.dir=run", cwd=tmp_path, env={"WANDB_MODE": "offline", "WANDB_SILENT": "true"})
    assert result.returncode == 0, result.stderr[-2000:]
    run_dir = tmp_path / "run"
    logged = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    client = MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    (run,) = client.search_runs([client.get_experiment_by_name("gan").experiment_id])
    assert [m.value for m in client.get_metric_history(run.info.run_id, "d/loss")] == pytest.approx(
        [row["d/loss"] for row in logged])
    assert run.info.status == "FINISHED" and client.list_artifacts(run.info.run_id, "samples")
    assert (run_dir / "tensorboard").is_dir() == tensorboard
    history = [r.history for r in wandb_records(run_dir) if r.WhichOneof("record_type") == "history"]
    d_loss = [json.loads(i.value_json) for h in history for i in h.item if "/".join(i.nested_key) == "d/loss"]
    assert d_loss == pytest.approx([row["d/loss"] for row in logged])


def test_several_loggers_each_get_every_call(tmp_path):
    calls = []

    class Recorder(RunLogger):
        def __init__(self, name):
            self.name = name

        def metrics(self, step, row):
            calls.append((self.name, step))

    both = Loggers([Recorder("a"), Recorder("b")])
    both.metrics(5, {"d/loss": 1.0})
    assert calls == [("a", 5), ("b", 5)]


@pytest.mark.tracker
def test_a_tracker_never_costs_the_run(tmp_path, monkeypatch, caplog):
    """A store that cannot be opened is one line before training; a failure later is said once
    and the run goes on without the tracker."""
    pytest.importorskip("mlflow", reason="needs mlflow: pip install 'gan-cli[mlflow]'")
    monkeypatch.chdir(tmp_path)
    bad = make_cfg(["logger=mlflow", "tracker.tracking_uri=nosuchscheme://x"])
    with pytest.raises(GanError, match=r"logger=mlflow cannot use tracker.tracking_uri=nosuchscheme://x .*: pass a"):
        build_logger(bad.logger, tmp_path, bad)
    in_the_way = make_cfg(["logger=mlflow", f"tracker.tracking_uri={(tmp_path / 'file').as_uri()}"])
    (tmp_path / "file").write_text("a file where the store's folder should be")
    with pytest.raises(GanError, match=r"logger=mlflow cannot use tracker.tracking_uri=file://.*Not a directory"):
        build_logger(in_the_way.logger, tmp_path, in_the_way)

    cfg = make_cfg(["logger=mlflow"])
    server_down = build_logger(cfg.logger, tmp_path, cfg)
    monkeypatch.setattr(server_down.client, "get_experiment_by_name", lambda name: (_ for _ in ()).throw(
        ConnectionError("connection refused")))
    with pytest.raises(GanError, match=r"logger=mlflow could not start its run \(ConnectionError: connection refused\)"):
        server_down.open(0)

    cfg = make_cfg(["logger=mlflow"])
    logger = build_logger(cfg.logger, tmp_path, cfg)
    logger.open(0)
    calls = []

    def fail(*args, **kwargs):
        calls.append(args)
        raise OSError("disk full")

    monkeypatch.setattr(logger.client, "log_batch", fail)
    with caplog.at_level("WARNING", logger="gan"):
        logger.metrics(5, {"d/loss": 1.0})
        logger.metrics(10, {"d/loss": 1.0})
        logger.close()
    assert len(calls) == 1  # left out after the first failure
    assert [r.getMessage() for r in caplog.records] == [
        "logger=mlflow failed (OSError: disk full); training goes on without it (metrics.jsonl has every value)"]


def test_a_list_of_loggers_passes_the_checks_made_before_the_run(gan, tmp_path):
    """The pre-run checks (gan_cli/preflight.py) take logger= as a name or a list, like the run."""
    ok = gan("train", "dataset=ring", "arch=mlp", "trainer.steps=2", "metrics=none", "trainer.progress=false",
             "logger=[jsonl,jsonl]", "hydra.run.dir=run", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr[-2000:]
    bad = gan("train", "dataset=ring", "arch=mlp", "logger=[jsonl,nope]", "hydra.run.dir=bad", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip() == \
        "error: logger=nope is unknown: use one of jsonl, tensorboard, mlflow, wandb (or a list of them)"
    assert not (tmp_path / "bad").exists()
