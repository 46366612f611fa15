"""The `gan` command end to end: help, a full run folder, a sweep, config errors by name."""

import json
from pathlib import Path

import torch

RING = ["dataset=ring", "arch=mlp", "loss=ns", "metrics=none"]


def test_help_lists_the_subcommands(gan, tmp_path):
    result = gan("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("train", "eval", "sample", "report"):
        assert f"  {command} " in result.stdout


def test_unknown_command_is_one_line(gan, tmp_path):
    result = gan("trian", cwd=tmp_path)
    assert result.returncode == 2
    assert "unknown command 'trian'" in result.stderr and "Traceback" not in result.stderr


def test_train_writes_the_full_run_folder(gan, tmp_path):
    result = gan("train", *RING, "trainer.steps=200", "trainer.checkpoint_every=100", "trainer.sample_every=100",
                 "trainer.log_every=50", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (run,) = (tmp_path / "outputs").glob("*/*_ring_mlp_ns")
    assert (run / ".hydra" / "config.yaml").is_file()
    assert {p.name for p in (run / "checkpoints").glob("*.pt")} == {"step_0000100.pt", "last.pt", "final.pt"}
    assert {p.name for p in (run / "samples").glob("*.png")} == {"step_0000100.png", "final.png"}
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [50, 100, 150, 200]
    for key in ("d/loss", "g/loss", "d/d_real", "d/d_fake", "d/grad_norm", "g/grad_norm", "images_per_s"):
        assert key in rows[-1]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["steps"] == 200
    assert {"modes", "hq_fraction", "reverse_kl"} <= summary.keys()
    assert 0 <= summary["modes"] <= 8
    final = torch.load(run / "checkpoints" / "final.pt", weights_only=True)
    assert final["step"] == 200 and final["config"]["loss"]["name"] == "ns"


def test_multirun_writes_one_complete_folder_per_job(gan, tmp_path):
    result = gan("train", "--multirun", *RING, "seed=0,1", "trainer.steps=10", "trainer.log_every=5", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    runs = sorted(p for p in (tmp_path / "outputs" / "multirun").glob("*/*/*") if p.is_dir())
    assert [r.name.split("_", 1)[0] for r in runs] == ["0", "1"]
    assert "seed=1" in runs[1].name  # readable names
    for run in runs:
        assert json.loads((run / "summary.json").read_text())["status"] == "finished"
        assert (run / "checkpoints" / "final.pt").is_file() and (run / "samples" / "final.png").is_file()
    seeds = [json.loads((r / "summary.json").read_text())["seed"] for r in runs]
    assert seeds == [0, 1]


def test_misspelt_key_and_wrong_type_fail_by_name(gan, tmp_path):
    for override, key in (("trainer.stepz=5", "stepz"), ("trainer.steps=abc", "trainer.steps")):
        result = gan("train", *RING, override, cwd=tmp_path)
        assert result.returncode != 0
        assert key in result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "outputs").exists() or not any((tmp_path / "outputs").rglob("*.pt"))


def test_cfg_job_prints_the_composed_config(gan, tmp_path):
    result = gan("train", *RING, "--cfg", "job", cwd=tmp_path)
    assert result.returncode == 0
    assert "name: ring" in result.stdout and "steps:" in result.stdout
    assert not Path(tmp_path / "outputs").exists()
