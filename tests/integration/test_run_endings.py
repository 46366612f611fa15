"""Every run that starts ends with a status in summary.json (finished, stopped with the resume
command, diverged, failed with a one-line reason), a run refused before it starts leaves no
folder, resume records what it changed, and every output path is checked before the work."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from gan_cli import run_status
from gan_cli.cli import config_dir
from gan_cli.config_check import check_command_line
from gan_cli.errors import GanError, RunFailed
from tests.conftest import make_cfg
from tests.helpers import TINY_RING, gan, write_png_folder
from tests.unit.report.test_report import make_run

FOLDER = ["dataset=folder", "dataset.resolution=8", "dataset.in_memory=false", "dataset.num_workers=0", "arch=mlp",
          "metrics=none", "trainer.progress=false", "trainer.sample_every=0", "device=cpu", "trainer.batch_size=4"]


def one_error_line(result: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in result.stderr + result.stdout
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    return line


# ----------------------------------------------------------------------------- subprocess ends
def test_a_refusal_after_start_up_leaves_no_folder(tmp_path):
    """Found only once the trainer builds its batches (4 images, batch 8): Hydra had already made
    the folder with .hydra/ and train.log, which stayed behind as a run 'running' forever."""
    images = write_png_folder(tmp_path / "images", 4, [(8, 8)])
    run_dir = tmp_path / "run"
    result = gan("train", *FOLDER, f"dataset.root={images}", "trainer.batch_size=8", "trainer.steps=2",
                 f"hydra.run.dir={run_dir}")
    assert result.returncode == 2
    assert one_error_line(result) == "error: the dataset has 4 examples, fewer than trainer.batch_size=8"
    assert not run_dir.exists()


def test_a_corrupt_image_met_mid_run_ends_failed_with_its_reason(tmp_path):
    images = write_png_folder(tmp_path / "images", 12, [(8, 8)])
    (images / "img_0011.png").write_bytes(b"not a png")  # streamed: found when its batch comes
    run_dir = tmp_path / "run"
    result = gan("train", *FOLDER, f"dataset.root={images}", "trainer.steps=30", f"hydra.run.dir={run_dir}")
    assert result.returncode == 1
    line = one_error_line(result)
    assert line.startswith("error: failed at step ") and "img_0011.png" in line and "remove it from the folder" in line
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["reason"] == line.removeprefix("error: ")


def test_resume_records_its_overrides_and_a_finished_run_needs_more_steps(tmp_path):
    run_dir = tmp_path / "run"
    first = gan("train", *TINY_RING, "trainer.steps=6", "trainer.checkpoint_every=3", f"hydra.run.dir={run_dir}")
    assert first.returncode == 0, first.stderr

    more = gan("train", f"resume={run_dir}", "trainer.steps=9", "optim.d.lr=1e-4")
    assert more.returncode == 0, more.stderr
    saved = yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())
    assert saved["trainer"]["steps"] == 9 and saved["optim"]["d"]["lr"] == 1e-4
    overrides = yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text())
    assert "trainer.steps=9" in overrides and "trainer.steps=6" not in overrides and "optim.d.lr=1e-4" in overrides
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["steps"] == 9
    assert [(r["at_step"], r["overrides"]) for r in summary["resumes"]] == [(6, ["trainer.steps=9", "optim.d.lr=1e-4"])]

    # the record now says 9 steps: resumed without a larger trainer.steps it used to train on to
    # the first command's trainer.steps, or overwrite final.pt, silently
    again = gan("train", f"resume={run_dir}")
    assert again.returncode == 2
    assert one_error_line(again) == (f"error: resume={run_dir}: the run already finished 9 steps; to train it further "
                                     "pass a larger trainer.steps, e.g. trainer.steps=18")


# ----------------------------------------------------------------------------- in-process
def test_a_crash_after_the_start_is_recorded_with_its_trace_in_train_log(tmp_path):
    from gan_cli.train import _ended

    (tmp_path / "summary.json").write_text(json.dumps({"status": "running"}))
    trainer = SimpleNamespace(started=True, step=7)
    try:
        raise ValueError("shapes do not match\nsecond line")
    except ValueError as e:
        error = _ended(tmp_path, [trainer], e, fresh=True)
    assert isinstance(error, RunFailed) and error.status == "failed"
    assert str(error) == (f"crashed at step 7: ValueError: shapes do not match (a bug: the full trace is in "
                          f"{tmp_path / 'train.log'})")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["reason"] == str(error)
    assert "Traceback" in (tmp_path / "train.log").read_text()


def test_a_second_ctrl_c_ends_stopped_with_the_resume_command(tmp_path, capsys):
    """Raised from the signal handler mid-step: the summary used to stay at "running"."""
    from gan_cli import checkpoint as ckpt_io
    from gan_cli.apps import guarded
    from gan_cli.train import _stopped_at_once

    ckpt_io.atomic_save({"format": ckpt_io.FORMAT, "step": 40}, tmp_path / "checkpoints" / "last.pt")
    (tmp_path / "summary.json").write_text(json.dumps({"status": "running"}))
    error = _stopped_at_once(tmp_path, [SimpleNamespace(started=True, step=47)], fresh=True)
    expected = (f"stopped at once (second Ctrl-C) at step 47; the last checkpoint is step 40: "
                f"continue with gan train resume={tmp_path}")
    assert str(error) == expected
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "stopped" and summary["steps"] == 40
    assert summary["resume"] == f"gan train resume={tmp_path}"

    def task(cfg):
        raise error

    with pytest.raises(SystemExit) as info:
        guarded(task)({})
    assert info.value.code == 130
    assert capsys.readouterr().err.strip() == f"error: {expected}"


def test_a_refusal_before_the_start_removes_only_hydras_files(tmp_path):
    from gan_cli.train import _ended

    fresh = tmp_path / "fresh"
    (fresh / ".hydra").mkdir(parents=True)
    (fresh / "train.log").write_text("")
    error = _ended(fresh, [], GanError("no"), fresh=True)
    assert type(error) is GanError and not fresh.exists()
    kept = tmp_path / "kept"
    (kept / ".hydra").mkdir(parents=True)
    (kept / "notes.txt").write_text("mine")
    _ended(kept, [], GanError("no"), fresh=True)
    assert (kept / "notes.txt").exists()


def resume_refusal(command_line: str) -> str:
    with pytest.raises(GanError) as info:
        check_command_line("train", config_dir(), shlex.split(command_line))
    return str(info.value)


def test_resume_of_a_checkpoint_file_or_a_missing_folder_is_one_line(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.pt").write_bytes(b"")
    assert resume_refusal(f"resume={run}/checkpoints/last.pt") == (
        f"resume={run}/checkpoints/last.pt is a file: give the run folder, e.g. resume={run}")
    assert resume_refusal(f"resume={tmp_path}/nothing") == (
        f"resume={tmp_path}/nothing: there is no such folder; give a run folder under outputs/")
    assert not (tmp_path / "nothing").exists()


def test_resume_refusals_are_made_before_hydra_starts(tmp_path):
    run = make_run(tmp_path / "run", ["dataset=ring"], summary={"status": "finished", "steps": 50},
                   config={"arch": {"name": "mlp"}, "metrics": {"names": []}, "trainer": {"steps": 50}})
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "last.pt").write_bytes(b"")
    assert "the run already finished 50 steps" in resume_refusal(f"resume={run}")
    assert "the run already finished 50 steps" in resume_refusal(f"resume={run} trainer.steps=50")
    assert resume_refusal(f"resume={run} trainer.steps=100 trainer.d_steps=0") == (
        "trainer.d_steps=0: it must be in [1, 1000]")
    assert "loss=hinge changes a config group" in resume_refusal(f"resume={run} trainer.steps=100 loss=hinge")


def test_gan_sample_refuses_a_folder_of_old_pngs_and_unwritable_places_before_loading(tmp_path):
    from gan_cli.sample import run_sample

    old = tmp_path / "old"
    old.mkdir()
    (old / "000000.png").write_bytes(b"")
    a_file = tmp_path / "file"
    a_file.write_text("")
    missing_checkpoint = tmp_path / "absent.pt"  # never reached: the out check comes first
    for out, expected in [(old, f"out={old} already holds 1 .png files"),
                          (a_file / "x.npz", f"out={a_file}/x.npz: {a_file} is a file, so no folder can be made"),
                          (a_file, f"out={a_file} is a file: give a folder")]:
        with pytest.raises(GanError, match="^" + expected.replace(".", r"\.")):
            run_sample(make_cfg([f"checkpoint={missing_checkpoint}", f"out={out}"], "sample"))


def test_gan_eval_checks_out_before_scoring(tmp_path):
    from gan_cli.evaluate import run_eval

    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(GanError, match="is a file, so no folder can be made there"):
        run_eval(make_cfg([f"checkpoint={tmp_path / 'absent.pt'}", f"out={a_file}/scores.json"], "eval"))


def test_report_reads_old_interrupted_summaries_as_stopped(tmp_path):
    from gan_cli.report.runs import load_run

    run = make_run(tmp_path / "old", [], summary={"status": "interrupted", "signal": "SIGINT", "steps": 10})
    loaded = load_run(run, tmp_path)
    assert loaded.status == "stopped" and loaded.error == "stopped by SIGINT"


def test_summary_table_shows_a_non_finite_value_as_json_has_it(capsys):
    from gan_cli.console import summary_table

    summary_table("t", {"reverse_kl": float("inf"), "modes": 8.0})
    out = capsys.readouterr().out
    assert "n/a" in out and "inf" not in out


@pytest.mark.parametrize("value, on", [("1", True), ("0", False), ("", False), ("true", False)])
def test_hydra_full_error_is_on_only_for_1_as_in_hydra(monkeypatch, value, on):
    from gan_cli.apps import full_errors

    monkeypatch.setenv("HYDRA_FULL_ERROR", value)
    assert full_errors() is on


def test_a_launcher_without_its_plugin_is_one_line(capsys):
    import importlib.util

    from gan_cli.cli import _check_launcher

    try:
        installed = importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is not None
    except ModuleNotFoundError:
        installed = False
    if installed:
        pytest.skip("the submitit launcher is installed")
    for launcher in ("local", "slurm"):
        with pytest.raises(SystemExit) as info:
            _check_launcher([f"hydra/launcher={launcher}"])
        assert info.value.code == 2
    assert capsys.readouterr().err.count("needs Hydra's submitit launcher") == 2


def test_statuses_are_the_documented_vocabulary():
    assert run_status.STATUSES == ("running", "finished", "stopped", "diverged", "failed")
    assert run_status.status_of({"status": "interrupted"}) == "stopped"
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for status in run_status.STATUSES[1:]:
        assert f"`{status}`" in readme


def test_report_shows_a_section_as_the_names_in_use_not_a_python_dict(tmp_path):
    from gan_cli.report.runs import load_run

    run = make_run(tmp_path / "r", [], summary={"status": "finished"},
                   config={"tricks": {"ema": {"decay": 0.999}, "r1": None, "pack": {"m": 2}}})
    assert load_run(run, tmp_path).value_of("tricks") == "[ema,pack]"


def test_dataset_in_memory_true_on_the_command_line_means_true(tmp_path):
    """A str field: Hydra hands `true` over as "True", which used to mean streamed, silently."""
    from gan_cli.data import build_dataset

    images = write_png_folder(tmp_path / "images", 3, [(8, 8)])
    cfg = make_cfg(["dataset=folder", f"dataset.root={images}", "dataset.resolution=8", "dataset.in_memory=true",
                    "dataset.max_in_memory_mb=0"])
    assert build_dataset(cfg.dataset).images is not None
    with pytest.raises(GanError, match="dataset.in_memory=maybe: choose auto, true or false"):
        build_dataset(make_cfg(["dataset=folder", f"dataset.root={images}", "dataset.in_memory=maybe"]).dataset)
