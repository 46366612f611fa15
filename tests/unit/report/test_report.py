"""`gan report`: run folders written by hand (a sweep in progress, a failed job, a folder copied
from another machine), checked cell by cell; then one real tiny sweep through the CLI."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf
from PIL import Image

from gan_cli.cli import _report_dir
from gan_cli.errors import GanError
from gan_cli.report import run_report
from gan_cli.report.output import markdown
from gan_cli.report.runs import collect_runs, parse_overrides, read_jsonl_counting
from gan_cli.report.scores import brief, primary
from gan_cli.report.table import Stat, build_report, fmt_stat


# ----------------------------------------------------------------------------- fake run folders
def metrics_rows(steps, d_loss: float, g_loss: float) -> list[dict]:
    return [{"step": s, "images_per_s": 1000.0, "time_s": s / 10, "d/loss": d_loss + s / 1000, "d/adv": d_loss + s / 1000,
             "d/d_real": 0.5, "d/d_fake": -0.5, "g/loss": g_loss, "g/adv": g_loss, "d/grad_norm": 1.0, "g/grad_norm": 2.0}
            for s in steps]


def make_run(folder: Path, overrides: list[str], *, summary: dict | None = None, metrics=(), scores=(),
             truncated: bool = False, samples: str | None = "final", config: dict | None = None) -> Path:
    """A run folder as `gan train` writes it (paths inside point to another machine)."""
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    seed = next((int(o.split("=")[1]) for o in overrides if o.startswith("seed=")), 0)
    base = {"seed": seed, "trainer": {"steps": 200}, "dataset": {"name": "ring"}, "loss": {"name": "ns"}}
    (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump({**base, **(config or {})}))
    choices = {"loss": next((o.split("=")[1] for o in overrides if o.startswith("loss=")), "ns"), "dataset": "ring"}
    (folder / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump({"hydra": {"runtime": {
        "output_dir": "/home/someone/else/outputs/x", "choices": choices}}}))
    if summary is not None:
        (folder / "summary.json").write_text(json.dumps({"run_dir": "/home/someone/else/outputs/x", **summary}))
    if metrics:
        text = "".join(json.dumps(r) + "\n" for r in metrics)
        if truncated:
            text += '{"step": 999, "d/lo'  # the trainer is writing this line right now
        (folder / "metrics.jsonl").write_text(text)
    if scores:
        (folder / "scores.jsonl").write_text("".join(json.dumps(r) + "\n" for r in scores))
    if samples:
        (folder / "samples").mkdir()
        Image.new("RGB", (60, 40), (200, 30, 30)).save(folder / "samples" / f"{samples}.png")
    return folder


def toy_scores(step, modes, hq, rkl, final=True):
    return {"step": step, "final": final, "modes": modes, "hq_fraction": hq, "reverse_kl": rkl}


@pytest.fixture
def sweep(tmp_path) -> Path:
    """A 2-loss x 2-seed sweep on ring: ns/0 finished, ns/1 still running (its metrics.jsonl ends
    in a half-written line), minimax/0 finished, minimax/1 failed after one evaluation."""
    root = tmp_path / "multirun" / "2024-01-01" / "12-00-00"
    common = ["experiment=ring", "trainer.steps=200"]
    make_run(root / "0_loss=ns,seed=0", [*common, "loss=ns", "seed=0"],
             summary={"status": "finished", "steps": 200, "wall_time_s": 30.0, "modes": 8, "hq_fraction": 0.96, "reverse_kl": 0.02},
             metrics=metrics_rows(range(50, 201, 50), 1.2, 0.8),
             scores=[toy_scores(100, 5, 0.5, 0.6, final=False), toy_scores(200, 8, 0.96, 0.02)])
    make_run(root / "1_loss=ns,seed=1", [*common, "loss=ns", "seed=1"],
             summary={"status": "running"}, metrics=metrics_rows(range(50, 101, 50), 1.1, 0.9), truncated=True,
             scores=[toy_scores(100, 6, 0.80, 0.30, final=False)], samples="step_0000100")
    make_run(root / "2_loss=minimax,seed=0", [*common, "loss=minimax", "seed=0"],
             summary={"status": "finished", "steps": 200, "wall_time_s": 50.0, "modes": 3, "hq_fraction": 0.5, "reverse_kl": None},
             metrics=metrics_rows(range(50, 201, 50), 1.3, -0.7), scores=[toy_scores(200, 3, 0.5, None)])
    make_run(root / "3_loss=minimax,seed=1", [*common, "loss=minimax", "seed=1"],
             summary={"status": "failed", "error": "dataset.root=/nope: no such folder: pass dataset.root"}, samples=None,
             scores=[toy_scores(100, 7, 0.9, 0.1, final=False)])  # before it failed: not counted
    return root


def report_cfg(root: Path, **kw):
    return OmegaConf.create({"dir": str(root), "out": None, "sort": None, "plots": True, "verbose": False, **kw})


# ----------------------------------------------------------------------------- reading
def test_read_jsonl_skips_the_line_being_written(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"step": 1}\n{"step": 2}\n{"step": 3, "d/lo')
    assert read_jsonl_counting(path)[0] == [{"step": 1}, {"step": 2}]
    assert read_jsonl_counting(tmp_path / "missing.jsonl")[0] == []


def test_parse_overrides_drops_seed_hydra_and_prefixes():
    parsed = parse_overrides(["loss=ns", "+tricks=[ema,pack]", "seed=3", "hydra.launcher.timeout_min=5",
                              "trainer.progress=False", "~foo"])
    assert parsed == {"loss": "ns", "tricks": "[ema,pack]", "foo": "~"}


def test_collect_runs_reads_status_steps_scores_and_errors(sweep):
    runs = {r.name.split("/")[-1]: r for r in collect_runs(sweep.parents[2])}  # found recursively
    assert len(runs) == 4
    ns0, ns1, mm0, mm1 = (runs[k] for k in sorted(runs))
    assert (ns0.status, ns0.steps, ns0.seed, ns0.scores_final) == ("finished", 200, 0, True)
    assert ns0.scores == {"modes": 8, "hq_fraction": 0.96, "reverse_kl": 0.02}
    # running: steps and time from the last complete metrics row, scores from the latest evaluation
    assert (ns1.status, ns1.steps, ns1.wall_time_s, ns1.scores_final) == ("running", 100, 10.0, False)
    assert ns1.scores["modes"] == 6 and ns1.samples.name == "step_0000100.png"
    assert (mm1.status, mm1.error) == ("failed", "dataset.root=/nope: no such folder: pass dataset.root")
    assert mm1.scores == {}  # its evaluation from before the failure does not count
    # the copied folder's own location is used, never the path written inside it
    assert all(r.path.is_relative_to(sweep) for r in runs.values())
    assert mm0.overrides == {"experiment": "ring", "trainer.steps": "200", "loss": "minimax"}


def test_a_run_without_summary_is_running(tmp_path):
    make_run(tmp_path / "run", ["loss=ns"], metrics=metrics_rows([10], 1.0, 1.0), samples=None)
    (run,) = collect_runs(tmp_path / "run")  # a run folder itself
    assert (run.status, run.steps) == ("running", 10)
    make_run(tmp_path / "started", ["loss=ns"], samples=None)  # only Hydra's .hydra/ so far
    assert [r.status for r in collect_runs(tmp_path / "started")] == ["running"]


def test_folders_of_other_commands_are_not_runs(tmp_path):
    (tmp_path / "eval_run" / ".hydra").mkdir(parents=True)
    (tmp_path / "eval_run" / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"checkpoint": "x.pt"}))
    assert collect_runs(tmp_path) == []


# ----------------------------------------------------------------------------- the table
def test_stat_mean_and_sample_std():
    stat = Stat([8.0, 6.0])
    assert stat.mean == 7.0
    assert stat.std == pytest.approx(math.sqrt(2))  # ddof=1: sqrt(((8-7)^2 + (6-7)^2) / 1)
    assert Stat([5.0]).std is None
    assert Stat([0.1, math.inf]).mean == math.inf and Stat([0.1, math.inf]).std is None
    assert fmt_stat("modes", Stat([8.0, 6.0]), 2) == "7.00 ± 1.41"
    assert fmt_stat("hq_fraction", Stat([0.96, 0.80], partial=True), 2) == "88.0 ± 11.3†"
    assert fmt_stat("fid", Stat([23.4]), 2) == "23.4 (n=1)"


def test_rows_are_configurations_with_seeds_aggregated_and_sorted(sweep):
    report = build_report(sweep, collect_runs(sweep))
    assert report.keys == ["loss"]  # seed is not a configuration; common overrides are not columns
    assert report.common == {"experiment": "ring", "trainer.steps": "200"}
    assert report.sort_keys == ["modes", "reverse_kl"]
    ns, minimax = report.rows
    assert ns.config == {"loss": "ns"} and minimax.config == {"loss": "minimax"}
    assert ns.scores["modes"].values == [8.0, 6.0] and ns.scores["modes"].partial
    assert ns.scores["hq_fraction"].mean == pytest.approx(0.88)
    assert ns.scores["reverse_kl"].std == pytest.approx(math.sqrt(2) * 0.14)
    # minimax: one seed failed; a null reverse KL is an infinite one (no high-quality sample)
    assert minimax.scores["modes"].values == [3.0]
    assert minimax.scores["reverse_kl"].mean == math.inf
    assert dict(ns.status) == {"finished": 1, "running": 1}
    assert dict(minimax.status) == {"finished": 1, "failed": 1}
    assert report.best is ns


def test_sorting_images_by_fid_ascending_and_by_request(tmp_path):
    root = tmp_path / "sweep"
    for i, (loss, seed, fid, is_mean) in enumerate([("ns", 0, 30.0, 5.0), ("ns", 1, 34.0, 5.2), ("hinge", 0, 20.0, 4.0),
                                                     ("hinge", 1, 22.0, 4.4), ("wgan", 0, 25.0, 7.0), ("wgan", 1, 25.0, 7.2)]):
        make_run(root / f"{i}_loss={loss},seed={seed}", [f"loss={loss}", f"seed={seed}"],
                 summary={"status": "finished", "steps": 200, "wall_time_s": 10.0},
                 scores=[{"step": 200, "final": True, "fid": fid, "is": is_mean, "is_std": 0.1, "fid_floor": 1.5,
                          "provenance": {"extractor": "inception", "num_samples": 10000}}])
    report = build_report(root, collect_runs(root))
    assert report.score_keys == ["fid", "is"]  # is_std, the floor and the provenance are not score columns
    assert [row.config["loss"] for row in report.rows] == ["hinge", "wgan", "ns"]
    hinge = report.rows[0]
    assert (hinge.scores["fid"].mean, hinge.scores["fid"].std) == (21.0, pytest.approx(math.sqrt(2)))
    assert report.best is hinge and report.best_value("is") == pytest.approx(7.1)
    by_is = build_report(root, collect_runs(root), sort="is")
    assert [row.config["loss"] for row in by_is.rows] == ["wgan", "ns", "hinge"]
    with pytest.raises(GanError, match="sort=kid: no run has this score"):
        build_report(root, collect_runs(root), sort="kid")


def test_a_tie_has_no_best(tmp_path):
    for loss in ("ns", "minimax"):
        make_run(tmp_path / loss, [f"loss={loss}"], summary={"status": "finished"},
                 scores=[toy_scores(10, 0, 0.0, None)], samples=None)
    report = build_report(tmp_path, collect_runs(tmp_path))
    assert report.best is None and report.best_value("modes") is None


def test_pending_jobs_of_a_sweep_in_progress(sweep):
    (sweep / "multirun.yaml").write_text(yaml.safe_dump({"hydra": {
        "sweeper": {"_target_": "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"},
        "overrides": {"task": ["experiment=ring", "trainer.steps=200", "loss=ns,minimax,hinge", "seed=0,1"]},
        "runtime": {"choices": {}}}}))
    report = build_report(sweep, collect_runs(sweep))
    hinge = next(row for row in report.rows if row.config["loss"] == "hinge")
    assert dict(hinge.status) == {"pending": 2} and hinge.seeds == [0, 1]
    assert sum(len(row.runs) for row in report.rows) == 6  # started jobs are not counted twice


def test_differing_defaults_are_resolved_from_the_saved_config(tmp_path):
    """A run that did not override a key has its default value, not a blank."""
    make_run(tmp_path / "a", ["trainer.steps=50"], summary={"status": "finished"}, samples=None)
    make_run(tmp_path / "b", [], summary={"status": "finished"}, samples=None)  # config: trainer.steps 200
    report = build_report(tmp_path, collect_runs(tmp_path))
    assert sorted(row.config["trainer.steps"] for row in report.rows) == ["200", "50"]


# ----------------------------------------------------------------------------- files
def test_report_writes_csv_markdown_and_pngs(sweep, tmp_path, capsys):
    out = tmp_path / "out"
    result = run_report(report_cfg(sweep, out=str(out)))
    assert result["configurations"] == 2
    printed = capsys.readouterr().out
    assert "★ ns" in printed and "1 finished, 1 failed" in printed
    assert "dataset.root=/nope: no such folder" in printed  # the failure's reason is shown

    with open(out / "report.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["loss"] for r in rows] == ["ns", "minimax"]
    assert float(rows[0]["modes"]) == 7.0 and float(rows[0]["modes_std"]) == pytest.approx(math.sqrt(2))
    assert rows[0]["modes_n"] == "2" and rows[0]["status"] == "1 finished, 1 running"
    assert rows[1]["reverse_kl"] == "inf" and rows[1]["reverse_kl_std"] == ""
    assert "seed 1: dataset.root=/nope" in rows[1]["errors"]
    assert rows[0]["steps"] == "100–200 / 200" and float(rows[1]["wall_time_s"]) == 50.0

    md = (out / "report.md").read_text()
    assert "| loss | modes ↑ | high-quality % ↑ | reverse KL ↓ | seeds | status | steps | wall time |" in md
    assert "| ★ ns | **7.00 ± 1.41†** | **88.0 ± 11.3†** | **0.160 ± 0.198†** | 0,1 | 1 finished, 1 running |" in md
    assert "| minimax | 3.00 (n=1) | 50.0 (n=1) | inf (n=1) | 0,1 | 1 finished, 1 failed |" in md
    assert "common overrides: experiment=ring trainer.steps=200" in md
    assert "- failed: loss=minimax, seed 1" in md
    for name in ("final_scores.png", "score_curves.png", "training_curves.png", "samples.png"):
        assert f"({name})" in md
        with Image.open(out / name) as image:
            assert image.format == "PNG" and image.width > 600 and image.height > 200


def test_report_next_to_the_sweep_by_default(sweep):
    run_report(report_cfg(sweep, plots=False))
    assert sorted(p.name for p in (sweep / "report").iterdir()) == ["report.csv", "report.html", "report.md"]
    assert collect_runs(sweep)[0].name.startswith("0_")  # the report folder is not taken for a run


def test_bad_folders_end_with_one_clear_line(tmp_path):
    with pytest.raises(GanError, match="is not a folder"):
        run_report(report_cfg(tmp_path / "nope"))
    with pytest.raises(GanError, match="holds no `gan train` run folders"):
        run_report(report_cfg(tmp_path))
    with pytest.raises(GanError, match="usage: gan report DIR"):
        run_report(OmegaConf.create({"dir": "???", "out": None, "sort": None, "plots": True}))


def test_markdown_escapes_pipes(tmp_path):
    make_run(tmp_path / "a", ["tricks=[a|b]"], summary={"status": "finished"}, samples=None)
    make_run(tmp_path / "b", [], summary={"status": "finished"}, samples=None)
    assert "a\\|b" in markdown(build_report(tmp_path, collect_runs(tmp_path)), [])


def test_report_dir_argument_is_quoted_for_hydra(tmp_path):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    job = tmp_path / "0_loss=ns,seed=0"
    job.mkdir()
    parser = OverridesParser.create()
    for path in (str(job), "outputs/it's", "a\\b", "end\\"):
        (arg,) = _report_dir([path])
        assert parser.parse_override(arg).value() == path
    assert _report_dir(["--cfg", "job", "out=x"]) == ["--cfg", "job", "out=x"]


def test_brief_names_the_ranking_scores():
    assert brief({"modes": 7, "hq_fraction": 0.9, "reverse_kl": 0.1}) == "modes=7 reverse_kl=0.1"
    assert brief({"fid": 23.456, "is": 5.0}) == "fid=23.46"
    assert primary(["precision", "recall"]) == ["precision"]


# ----------------------------------------------------------------------------- the CLI, end to end
def test_real_sweep_on_ring_through_the_cli(gan, ring_sweep, tmp_path):
    """The whole path: a 2-loss x 2-seed sweep trains (with TensorBoard logs when the package is
    there), then `gan report` reads it."""
    tensorboard = importlib.util.find_spec("tensorboard") is not None
    sweep = ring_sweep
    assert "step 5/10  scores: modes=" in (sweep / "train.out").read_text()  # the latest score, in the log lines

    report = gan("report", str(sweep), cwd=tmp_path)
    assert report.returncode == 0, report.stderr[-2000:]
    assert "2 finished" in report.stdout
    with open(sweep / "report" / "report.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["loss"] for r in rows) == ["minimax", "ns"]
    assert all(r["modes_n"] == "2" and r["seeds"] == "0 1" and r["steps"] == "10" for r in rows)
    for name in ("final_scores.png", "score_curves.png", "training_curves.png", "samples.png"):
        assert (sweep / "report" / name).stat().st_size > 10_000

    job = next(sweep.glob("0_*"))
    (run,) = collect_runs(job)  # a job folder on its own is a report of one run
    assert run.status == "finished" and run.scores_final
    if tensorboard:
        from tests.unit.test_loggers import events

        acc = events(job / "tensorboard")
        logged = [json.loads(line)["d/loss"] for line in (job / "metrics.jsonl").read_text().splitlines()]
        assert [e.value for e in acc.Scalars("d/loss")] == pytest.approx(logged)
        assert [e.step for e in acc.Scalars("scores/modes")] == [5, 10]
        assert [e.step for e in acc.Images("samples")] == [5, 10]  # step_0000005.png and final.png


def test_error_lines_keep_square_brackets(capsys):
    from gan_cli.console import error_line

    error_line("usage: gan report DIR [out=DIR] tricks=[ema]")
    assert "usage: gan report DIR [out=DIR] tricks=[ema]" in capsys.readouterr().err


def test_pending_jobs_without_a_seed_override(tmp_path):
    """The seed then comes from the sweep's config in multirun.yaml, so started jobs still match."""
    make_run(tmp_path / "0_loss=ns", ["loss=ns"], summary={"status": "finished"}, samples=None)
    (tmp_path / "multirun.yaml").write_text(yaml.safe_dump({
        "hydra": {"sweeper": {"_target_": "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"},
                  "overrides": {"task": ["loss=ns,minimax"]}},
        "seed": 0, "trainer": {"steps": 200}}))
    report = build_report(tmp_path, collect_runs(tmp_path))
    assert {row.config["loss"]: dict(row.status) for row in report.rows} == {"ns": {"finished": 1},
                                                                              "minimax": {"pending": 1}}


# ----------------------------------------------------------------------------- searches
def test_a_search_adds_its_best_trial_and_an_objective_plot(sweep, tmp_path, capsys):
    from gan_cli.report import run_report

    search = {"objective": "modes", "direction": "maximize", "n_trials": 3, "trials": [
        {"number": 0, "state": "complete", "value": 5, "params": {"optim.g.lr": 0.000123456, "loss": "ns"}, "job": "0_a"},
        {"number": 1, "state": "fail", "value": None, "params": {"optim.g.lr": 0.01, "loss": "hinge"}, "job": "1_b"},
        {"number": 2, "state": "complete", "value": 8, "params": {"optim.g.lr": 0.002, "loss": "hinge"}, "job": "2_c"}],
        "best": {"number": 2, "state": "complete", "value": 8, "params": {"optim.g.lr": 0.002, "loss": "hinge"}, "job": "2_c"}}
    (sweep / "search.json").write_text(json.dumps(search))
    run_report(report_cfg(sweep, out=str(tmp_path / "out")))
    out = capsys.readouterr().out
    assert "search: 3 trials (2 complete, 1 fail), objective modes (higher is better)" in out
    assert "best trial 2: modes = 8  optim.g.lr=0.002 loss=hinge  (2_c)" in out
    assert (tmp_path / "out" / "search.png").stat().st_size > 0
    assert "search.png" in (tmp_path / "out" / "report.md").read_text()


def test_a_folder_of_unrelated_runs_gets_one_configuration_column(tmp_path):
    """A day's folder (runs differing in many keys) shows one `configuration` column holding each
    row's overrides, not a column per key that no terminal can show; a sweep keeps its columns."""
    for i in range(3):
        make_run(tmp_path / f"run{i}", [f"loss={'ns hinge lsgan'.split()[i]}", f"trainer.steps={100 * (i + 1)}",
                                        f"optim.g.lr={i + 1}e-4", f"optim.d.lr={i + 1}e-4", f"arch.width={8 * (i + 1)}",
                                        f"seed={i}"], summary={"status": "finished", "fid": 10.0 + i}, samples=None)
    report = build_report(tmp_path, collect_runs(tmp_path))
    assert len(report.keys) == 5 and report.key_columns == []
    text = markdown(report, [])
    header = next(line for line in text.splitlines() if line.startswith("| "))
    assert header.split(" | ")[0] == "| configuration" and "loss" not in header
    assert "loss=ns, trainer.steps=100, optim.g.lr=1e-4, optim.d.lr=1e-4, arch.width=8" in text
    sweep = build_report(tmp_path, collect_runs(tmp_path)[:1] + [])  # one run: nothing differs
    assert sweep.keys == [] and "| configuration" in markdown(sweep, [])
