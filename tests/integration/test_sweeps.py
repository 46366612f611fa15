"""A failing job does not stop a sweep: its reason is recorded in its folder, the healthy jobs
finish, and the sweep ends with one line per failed job and exit code 1."""

from __future__ import annotations

import json

from tests.helpers import TINY_RING, gan


def test_sweep_with_three_diverging_jobs_completes_the_healthy_one(tmp_path):
    result = gan("train", "--multirun", *TINY_RING, "trainer.steps=5", "trainer.log_every=5",
                 "optim.d.lr=1e30,1e31,2e-4,1e32", f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr

    summaries = {}
    for path in tmp_path.glob("*/summary.json"):
        lr = path.parent.name.split("optim.d.lr=")[1].split(",")[0]
        summaries[lr] = json.loads(path.read_text())
    assert sorted(summaries) == ["0.0002", "1e+30", "1e+31", "1e+32"]
    healthy = summaries.pop("0.0002")
    assert healthy["status"] == "finished" and healthy["steps"] == 5
    for summary in summaries.values():
        assert summary["status"] == "diverged"
        assert summary["error"].startswith("training diverged at step ")  # what `gan report` shows

    lines = result.stderr.strip().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("sweep: "))
    assert lines[start] == f"sweep: 3 of 4 jobs did not finish ({tmp_path}):"
    reported = lines[start + 1 :]
    assert len(reported) == 3 and all("training diverged at step" in line for line in reported)
    assert not any("optim.d.lr=0.0002" in line for line in reported)


def test_bad_value_in_a_sweep_is_refused_before_any_job_runs(tmp_path):
    result = gan("train", "--multirun", *TINY_RING, "trainer.steps=5,abc", f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: trainer.steps=abc: Value 'abc' of type 'str' could not be converted to Integer, e.g. trainer.steps=15000"
    ]
    assert not any(tmp_path.iterdir())
