"""report.html, built from a real tiny sweep (the `ring_sweep` fixture) and from copies of its run
folders damaged the way a kill or a hostile folder name would: the page's structure is read back
with an HTML parser. The page in a real browser: tests/integration/test_report_browser.py."""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from gan_cli.errors import GanError
from gan_cli.report import run_report
from gan_cli.report import scores as catalog
from gan_cli.report.plots import NOT_PLOTTED, training_keys
from gan_cli.report.runs import collect_runs
from gan_cli.report.table import build_report
from tests.unit.report.test_report import make_run


class Page(HTMLParser):
    """The parts of report.html the tests look at: table cells, images, problems, scripts."""

    def __init__(self, text: str):
        super().__init__()
        self.headers, self.rows, self.images, self.captions, self.problems = [], [], [], [], []
        self.links, self.scripts = [], 0
        self._cell = self._into = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("th", "td"):
            self._cell = {"tag": tag, "text": "", **attrs}
        elif tag == "img":
            self.images.append(attrs)
        elif tag in ("figcaption", "li"):
            self._into = {"figcaption": self.captions, "li": self.problems}[tag]
            self._into.append("")
        elif tag == "script":
            self.scripts += 1
            self.links.append(attrs.get("src"))
        if tag == "link" or (tag == "a" and "href" in attrs):
            self.links.append(attrs.get("href"))

    def handle_endtag(self, tag):
        if tag in ("th", "td") and self._cell is not None:
            (self.headers if tag == "th" else self.rows[-1]).append(self._cell)
            self._cell = None
        elif tag in ("figcaption", "li"):
            self._into = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data
        if self._into is not None:
            self._into[-1] += data

    @property
    def body_rows(self) -> list[list[dict]]:
        return [row for row in self.rows if row]


def report_cfg(root: Path, out: Path, **kw):
    return OmegaConf.create({"dir": str(root), "out": str(out), "sort": None, "plots": True, **kw})


def copy_runs(ring_sweep: Path, dest: Path) -> list[Path]:
    jobs = sorted(p for p in ring_sweep.iterdir() if (p / "summary.json").is_file())
    return [Path(shutil.copytree(job, dest / job.name)) for job in jobs]


def test_the_page_of_a_real_sweep(ring_sweep, tmp_path):
    run_report(report_cfg(ring_sweep, tmp_path))
    text = (tmp_path / "report.html").read_text()
    page = Page(text)
    headers = [h["text"] for h in page.headers]
    assert headers[:2] == ["loss", "modes ↑"] and {"n", "seeds", "status"} <= set(headers)
    assert len(page.body_rows) == 2  # one per configuration
    n = headers.index("n")
    assert [row[n]["text"] for row in page.body_rows] == ["2", "2"]
    modes = headers.index("modes ↑")
    for row in page.body_rows:  # the cell sorts by the mean over seeds: the text shows mean ± std
        values = [json.loads(line)["modes"] for job in ring_sweep.glob(f"*loss={row[0]['text']},*")
                  for line in (job / "scores.jsonl").read_text().splitlines() if json.loads(line)["final"]]
        assert float(row[modes]["data-sort"]) == pytest.approx(sum(values) / len(values))
        assert row[modes]["text"].startswith(f"{sum(values) / len(values):.2f}")
    # self-contained: every image inline, nothing fetched from anywhere
    assert page.images and all(img["src"].startswith("data:image/png;base64,") for img in page.images)
    assert page.links == [None] and "http" not in text.replace("http-equiv", "")
    assert {img["alt"] for img in page.images} >= {"Scores during training", "Final scores", "Training curves"}
    # the sample grids: one per configuration, captioned with its overrides and the seed shown
    assert sorted(c.split(" (")[0].lstrip("★ ") for c in page.captions) == ["loss=minimax", "loss=ns"]
    assert all("seed 0, final" in c for c in page.captions)


def test_report_reads_every_key_real_runs_write(ring_sweep):
    """The report's catalogues against what a real run writes: every score key is known (label
    and direction), every logged training key is drawn (`d/adv` only where it differs from `d/loss`)."""
    runs = collect_runs(ring_sweep)
    drawn = set(training_keys(build_report(ring_sweep, runs)))
    for run in runs:
        assert run.scores and set(run.scores) <= set(catalog.KNOWN)
        logged = {k for row in run.metrics for k in row}
        assert {"d/loss", "g/loss", "d/d_real"} <= logged
        assert logged - NOT_PLOTTED - {"d/adv", "g/adv"} <= drawn, logged - drawn


HOSTILE = "<script>alert(1)</script>"


def test_every_text_from_run_folders_is_escaped(ring_sweep, tmp_path):
    ns, *_ = copy_runs(ring_sweep, tmp_path / "runs")
    hostile = ns.rename(ns.with_name('<img src=x onerror="alert(2)">'))
    overrides = hostile / ".hydra" / "overrides.yaml"
    overrides.write_text(yaml.safe_dump([*yaml.safe_load(overrides.read_text()), f"trainer.name={HOSTILE}"]))
    summary = json.loads((hostile / "summary.json").read_text())
    (hostile / "summary.json").write_text(json.dumps({**summary, "status": "failed", "error": f"bad {HOSTILE}"}))
    run_report(report_cfg(tmp_path / "runs", tmp_path / "out"))
    text = (tmp_path / "out" / "report.html").read_text()
    assert HOSTILE not in text and "<img src=x" not in text and 'onerror="' not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    page = Page(text)
    assert page.scripts == 1  # only the page's own sorting script
    assert any(HOSTILE in cell["text"] for row in page.body_rows for cell in row)  # shown as text
    assert any(f"bad {HOSTILE}" in item and '<img src=x onerror="alert(2)">' in item for item in page.problems)


def test_damaged_and_unfinished_runs_are_listed(ring_sweep, tmp_path, capsys):
    """A summary.json cut short, a metrics.jsonl whose last line a kill cut, a run stopped by a
    signal (new and old status names), one with no summary yet: the page is written for what is
    readable and lists the rest; the terminal gets one line."""
    cut, damaged, stopped, old_name = copy_runs(ring_sweep, tmp_path / "runs")
    metrics = (cut / "metrics.jsonl").read_text()
    (cut / "metrics.jsonl").write_text(metrics + metrics.splitlines()[-1][:17])
    (damaged / "summary.json").write_text('{"status": "fini')
    for run, status in ((stopped, "stopped"), (old_name, "interrupted")):
        summary = json.loads((run / "summary.json").read_text())
        (run / "summary.json").write_text(json.dumps({**summary, "status": status, "signal": "SIGTERM"}))
    (old_name / "summary.json").unlink()  # (the old name is read too; see test_status_names)

    result = run_report(report_cfg(tmp_path / "runs", tmp_path / "out"))
    assert result["configurations"] == 2
    lines = [line for line in capsys.readouterr().out.splitlines() if "unreadable" in line]
    assert len(lines) == 1 and "listed under Problems in report.html" in lines[0]
    page = Page((tmp_path / "out" / "report.html").read_text())
    problems = "\n".join(page.problems)
    assert f"unreadable {cut.name}: metrics.jsonl: 1 unreadable line skipped" in problems
    assert f"unreadable {damaged.name}: summary.json is not readable JSON" in problems
    assert f"({stopped.name}): stopped by SIGTERM" in problems
    assert "note 1 run is still running" in problems
    statuses = {row[0]["text"]: row[[h["text"] for h in page.headers].index("status")]["text"]
                for row in page.body_rows}
    assert sorted(statuses.values()) == ["1 finished, 1 unknown", "1 running, 1 stopped"]


@pytest.mark.parametrize("status", ["stopped", "interrupted"])
def test_status_names(tmp_path, status):
    """Issue 19 renamed "interrupted" to "stopped": both read as one status, a run to be resumed."""
    make_run(tmp_path / "a", ["loss=ns"], summary={"status": status, "signal": "SIGINT"},
             scores=[{"step": 5, "final": False, "modes": 4}], samples=None)
    (run,) = collect_runs(tmp_path / "a")
    assert (run.status, run.error, run.scores) == ("stopped", "stopped by SIGINT", {"modes": 4})


def test_mixed_toy_and_image_runs_are_said(tmp_path):
    make_run(tmp_path / "toy", ["dataset=ring"], summary={"status": "finished"}, samples=None,
             scores=[{"step": 5, "final": True, "modes": 8}])
    make_run(tmp_path / "img", ["dataset=mnist"], summary={"status": "finished"}, samples=None,
             scores=[{"step": 5, "final": True, "fid": 30.0}])
    run_report(report_cfg(tmp_path, tmp_path / "out", plots=False))
    page = Page((tmp_path / "out" / "report.html").read_text())
    assert any("2-D and image runs are mixed" in item and "ranked by fid" in item for item in page.problems)
    assert [row[0]["text"] for row in page.body_rows] == ["mnist", "ring"]  # the FID row first


def test_watch_rewrites_the_page_until_every_run_is_done(tmp_path, monkeypatch):
    """A sweep in flight: the page is rewritten on every pass, and watching stops by itself once
    the running job has finished (here: during the first wait)."""
    import gan_cli.report as report_module

    make_run(tmp_path / "0_loss=ns", ["loss=ns"], summary={"status": "finished"}, samples=None,
             scores=[{"step": 5, "final": True, "modes": 8}])
    make_run(tmp_path / "1_loss=hinge", ["loss=hinge"], summary={"status": "running"}, samples=None,
             scores=[{"step": 5, "final": False, "modes": 3}])
    waits = []

    def finish_the_job(seconds):
        waits.append(seconds)
        page = (tmp_path / "out" / "report.html").read_text()
        assert "1 running" in page and "hinge" in page
        summary = tmp_path / "1_loss=hinge" / "summary.json"
        summary.write_text(json.dumps({"status": "finished"}))
        with open(tmp_path / "1_loss=hinge" / "scores.jsonl", "a") as f:
            f.write(json.dumps({"step": 10, "final": True, "modes": 6}) + "\n")

    monkeypatch.setattr(report_module.time, "sleep", finish_the_job)
    result = run_report(report_cfg(tmp_path, tmp_path / "out", plots=False, watch=7))
    assert result["passes"] == 2 and waits == [7.0]
    page = Page((tmp_path / "out" / "report.html").read_text())
    assert [row[0]["text"] for row in page.body_rows] == ["ns", "hinge"]
    status = [h["text"] for h in page.headers].index("status")
    assert [row[status]["text"] for row in page.body_rows] == ["1 finished", "1 finished"]


def test_watch_flag_becomes_a_config_key():
    from gan_cli.cli import _report_dir

    assert _report_dir(["--watch", "sweep"])[0] == "watch=30"
    assert _report_dir(["--watch=5", "sweep"])[:1] == ["watch=5"]
    with pytest.raises(GanError, match="watch=-1: pass a number of seconds > 0"):
        run_report(report_cfg(Path("."), Path("."), watch=-1))


def test_a_search_shows_its_objective_against_the_trial_and_its_best(tmp_path):
    """A hyperparameter search (search.json, kept by the optuna sweeper in the sweep folder): the
    objective of each trial against its number, and the best trial named on the page."""
    for num, fid in enumerate([40.0, 30.0, 35.0]):
        make_run(tmp_path / f"{num}_lr", [f"optim.g.lr={num}e-4"], summary={"status": "finished", "fid": fid},
                 samples=None, scores=[{"step": 5, "final": True, "fid": fid}])
    trials = [{"number": n, "state": "complete", "value": v, "params": {"optim.g.lr": n * 1e-4}, "job": f"{n}_lr"}
              for n, v in enumerate([40.0, 30.0, 35.0])]
    search = {"objective": "fid", "direction": "minimize", "n_trials": 3, "trials": trials, "best": trials[1]}
    (tmp_path / "search.json").write_text(json.dumps(search))
    run_report(report_cfg(tmp_path, tmp_path / "out"))
    page = Page((tmp_path / "out" / "report.html").read_text())
    assert "Search: objective against trial" in [img["alt"] for img in page.images]
    assert any("best trial 1: fid = 30" in text for text in page.problems)


def test_a_basic_sweep_has_no_search_figure(ring_sweep, tmp_path):
    runs = collect_runs(ring_sweep)
    assert {run.job_num for run in runs} == {0, 1, 2, 3} and all("Sweeper" in run.sweeper for run in runs)
    run_report(report_cfg(ring_sweep, tmp_path / "out"))
    page = Page((tmp_path / "out" / "report.html").read_text())
    assert "Search: objective against trial" not in [img["alt"] for img in page.images]
