"""Sweeps through a real Slurm (slurmctld + slurmd on this machine, brought up by
scripts/slurm/up.sh): jobs go through sbatch and show in `sacct`, a requeued job resumes to the
weights of an uninterrupted one, a diverging job is reported while the others finish.

Marked `slurm` (not in the default run): `python -m pytest -m slurm`. Skipped, with the reason,
where Slurm cannot be brought up (packages missing, not root). A few minutes on 2 busy cores.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from gan_cli import checkpoint as ckpt_io
from tests.conftest import REPO
from tests.helpers import TINY_RING, gan, start_python

pytestmark = pytest.mark.slurm

# The node has this machine's CPUs and no GPU: each job asks for 1 CPU, 1 GB and no GPU.
ON_THIS_NODE = ["hydra/launcher=slurm", "hydra.launcher.gpus_per_node=0", "hydra.launcher.cpus_per_task=1",
                "hydra.launcher.mem_gb=1", "hydra.launcher.timeout_min=30", "metrics=none"]


@pytest.fixture(scope="module")
def slurm():
    up = subprocess.run(["bash", str(REPO / "scripts/slurm/up.sh")], capture_output=True, text=True, timeout=120)
    if up.returncode == 3:
        pytest.skip(up.stdout.strip() or up.stderr.strip())
    assert up.returncode == 0, up.stdout + up.stderr


def sacct_states(array_tasks: list[str], timeout: float = 60) -> dict[str, str]:
    """Each job's last state in the job completion log (`sacct -c`: no slurmdbd here). A job's
    result reaches the sweep a moment before Slurm logs its end: wait for every job's COMPLETED."""
    ids = {task: plain_id(task) for task in array_tasks}
    deadline = time.time() + timeout
    while True:
        out = subprocess.run(["sacct", "-c", "-n", "-P", "-o", "JobID,State"], capture_output=True, text=True).stdout
        last = dict(line.split("|")[:2] for line in out.splitlines() if "|" in line)
        states = {task: last.get(job) for task, job in ids.items()}
        if all(state == "COMPLETED" for state in states.values()) or time.time() > deadline:
            return states
        time.sleep(0.5)


def job_ids(sweep: Path) -> list[str]:
    """Slurm's ids of a sweep's jobs (submitit keeps one folder per array task: `<array>_<task>`)."""
    return sorted(p.name for p in (sweep / ".submitit").iterdir() if re.fullmatch(r"\d+_\d+", p.name))


def plain_id(array_task: str) -> str:
    """The job id sacct -c knows an array task by (scontrol remembers it for MinJobAge, 300 s)."""
    out = subprocess.run(["scontrol", "show", "job", "-o", array_task], capture_output=True, text=True).stdout
    return re.search(r"JobId=(\d+)", out).group(1)


def summaries(sweep: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sweep.glob("*/summary.json")}


def test_a_grid_sweep_runs_as_slurm_jobs_and_gan_report_reads_it(slurm, tmp_path):
    sweep = tmp_path / "sweep"
    result = gan("train", "-m", *TINY_RING, *ON_THIS_NODE, "trainer.steps=20", "trainer.log_every=10",
                 "dataset=ring", "arch=mlp", "loss=ns,hinge", "seed=0,1", f"hydra.sweep.dir={sweep}", timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    runs = summaries(sweep)
    assert len(runs) == 4 and all(s["status"] == "finished" and s["steps"] == 20 for s in runs.values())
    assert {name.split("loss=")[1].split(",")[0] for name in runs} == {"ns", "hinge"}
    ids = job_ids(sweep)
    assert len(ids) == 4
    assert sacct_states(ids) == {job: "COMPLETED" for job in ids}

    report = gan("report", str(sweep))
    assert report.returncode == 0, report.stderr
    table = (sweep / "report" / "report.md").read_text()
    assert "| ns |" in table and "| hinge |" in table and table.count("2 finished") == 2  # seeds 0,1 per loss


def test_a_requeued_job_resumes_and_ends_with_the_weights_of_an_uninterrupted_one(slurm, tmp_path):
    """Two identical runs (log_every changes what is logged, not what is trained): job 0 is
    requeued mid-run with `scontrol requeue`; Slurm stops it with SIGTERM, it checkpoints, Slurm
    starts it again and it resumes. Its final checkpoint equals job 1's tensor for tensor."""
    sweep = tmp_path / "sweep"
    proc = start_python("-m", "gan_cli.cli", "train", "-m", *TINY_RING, *ON_THIS_NODE, "trainer.steps=300",
                        "trainer.checkpoint_every=100", "trainer.log_every=20,25", f"hydra.sweep.dir={sweep}",
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        job0 = _wait_for_steps(sweep, "0_", rows=2, proc=proc)
        job_id = next(j for j in job_ids(sweep) if j.endswith("_0"))
        subprocess.run(["scontrol", "requeue", job_id], check=True)
        _start_now(job_id)  # Slurm holds a requeued job back for two minutes
        output, _ = proc.communicate(timeout=900)
    finally:
        proc.kill()
    assert proc.returncode == 0, output[-3000:]

    log = (job0 / "train.log").read_text()
    stopped = re.search(r"SIGTERM: stopped after step (\d+) of 300", log)
    assert stopped, log[-2000:]
    assert f"at step {stopped.group(1)}" in log.split("SIGTERM: stopped")[1]  # "resuming ... at step N"
    requeued, plain = (json.loads((d / "summary.json").read_text()) for d in (job0, _job_dir(sweep, "1_")))
    assert requeued["status"] == plain["status"] == "finished" and requeued["steps"] == 300

    final = [ckpt_io.safe_load(d / "checkpoints" / "final.pt") for d in (job0, _job_dir(sweep, "1_"))]
    assert ckpt_io.state_differences(*final) == []
    assert sacct_states([job_id]) == {job_id: "COMPLETED"}


def test_a_diverging_job_is_marked_in_the_summary_and_the_others_finish(slurm, tmp_path):
    sweep = tmp_path / "sweep"
    result = gan("train", "-m", *TINY_RING, *ON_THIS_NODE, "trainer.steps=5", "trainer.log_every=5",
                 "optim.d.lr=2e-4,1e30", f"hydra.sweep.dir={sweep}", timeout=900)
    assert result.returncode == 1, result.stdout + result.stderr[-3000:]
    by_lr = {name.split("optim.d.lr=")[1].split(",")[0]: s for name, s in summaries(sweep).items()}
    assert by_lr["0.0002"]["status"] == "finished"
    assert by_lr["1e+30"]["status"] == "diverged"
    assert by_lr["1e+30"]["error"].startswith("training diverged at step ")
    assert f"sweep: 1 of 2 jobs did not finish ({sweep}):" in result.stderr
    ids = job_ids(sweep)
    assert sacct_states(ids) == {job: "COMPLETED" for job in ids}  # a failed run is not a failed job


def _job_dir(sweep: Path, prefix: str) -> Path:
    return next(p for p in sweep.iterdir() if p.name.startswith(prefix))


def _wait_for_steps(sweep: Path, prefix: str, rows: int, proc, timeout: float = 600) -> Path:
    """The job folder once its metrics.jsonl has `rows` rows (the job is training)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        folders = [p for p in sweep.glob(f"{prefix}*") if p.is_dir()] if sweep.is_dir() else []
        metrics = folders[0] / "metrics.jsonl" if folders else None
        if metrics and metrics.is_file() and len(metrics.read_text().splitlines()) >= rows:
            return folders[0]
        time.sleep(0.5)
    raise AssertionError(f"no job {prefix}* trained within {timeout} s")


def _start_now(job_id: str, timeout: float = 120) -> None:
    """Let the requeued job start again at once (Slurm holds a requeued job back for 2 minutes)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        info = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True).stdout
        state, restarts = re.search(r"JobState=(\w+)", info).group(1), int(re.search(r"Restarts=(\d+)", info).group(1))
        if restarts >= 1 and state == "PENDING":
            subprocess.run(["scontrol", "update", f"jobid={job_id}", "StartTime=now"], capture_output=True)
        elif restarts >= 1 and state in ("RUNNING", "COMPLETED"):
            return
        time.sleep(0.5)
    raise AssertionError(f"requeued job {job_id} did not start again within {timeout} s")
