"""Kill a sweep or a search half way, run the same command again, and print what happened.

    python scripts/show_resume.py grid   [--dir D]   # 6-job grid on ring, SIGKILL after 3 finished jobs
    python scripts/show_resume.py search [--dir D]   # 8-trial Optuna search, SIGKILL after 4 trials
    python scripts/show_resume.py parallel [--dir D] # 4 trials, 2 at a time through hydra/launcher=local

Each prints its evidence (file times of the finished jobs before and after, trial numbers and
parameters, overlapping job times) and, last, one JSON line. Minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RING = ["experiment=ring", "tricks=[]", "trainer.steps=300", "trainer.checkpoint_every=100", "trainer.sample_every=0",
        "trainer.progress=false", "metrics.toy_samples=1000", "device=cpu"]
SEARCH = ["hydra/sweeper=optuna", "optim.g.lr=tag(log,interval(1e-4,1e-2))", "loss=ns,hinge", "sweep.objective=modes"]


def gan_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "gan_cli.cli", "train", "-m", *args]


def environment() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=REPO, env=environment(), capture_output=True, text=True)


def kill_when(args: list[str], ready, log: Path, timeout: float = 1800) -> None:
    """Start the command (its output into `log`) and SIGKILL it and its jobs once ready() is true."""
    with open(log, "w") as out:
        proc = subprocess.Popen(args, cwd=REPO, env=environment(), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    deadline = time.time() + timeout
    while not ready():
        if proc.poll() is not None:
            raise SystemExit(f"the command ended (exit {proc.returncode}) before it could be killed: see {log}")
        if time.time() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            raise SystemExit("timed out")
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def statuses(sweep: Path) -> dict[str, str]:
    out = {}
    for path in sorted(sweep.glob("*/summary.json")):
        try:
            out[path.parent.name] = json.loads(path.read_text())["status"]
        except (OSError, json.JSONDecodeError, KeyError):
            out[path.parent.name] = "?"
    return out


def mid_run(sweep: Path) -> bool:
    """A job is training and has written a checkpoint."""
    return any(status == "running" and (sweep / name / "checkpoints" / "last.pt").exists()
               for name, status in statuses(sweep).items())


def mtimes(folders: list[Path]) -> dict[str, int]:
    return {str(p.relative_to(f.parent)): p.stat().st_mtime_ns for f in folders for p in sorted(f.rglob("*")) if p.is_file()}


def show_grid(sweep: Path) -> dict:
    args = gan_command(*RING, "loss=ns,hinge", "seed=0,1,2", f"hydra.sweep.dir={sweep}")
    kill_when(args, lambda: list(statuses(sweep).values()).count("finished") >= 3 and mid_run(sweep),
              sweep.with_suffix(".killed.log"))
    before = statuses(sweep)
    finished = [sweep / name for name, status in before.items() if status == "finished"]
    times = mtimes(finished)
    print("killed; job statuses:", json.dumps(before, indent=1))
    again = run(args)
    print(again.stderr[again.stderr.find("sweep: "):])
    after = statuses(sweep)
    same = mtimes(finished) == times
    print(f"files of the {len(finished)} finished jobs unchanged (mtime_ns of {len(times)} files): {same}")
    return {"demo": "grid", "exit": again.returncode, "jobs": len(after), "finished_before_kill": len(finished),
            "finished_after_rerun": list(after.values()).count("finished"), "finished_jobs_untouched": same}


def show_search(sweep: Path, n_trials: int = 8, kill_after: int = 4) -> dict:
    args = gan_command(*RING, *SEARCH, f"hydra.sweeper.n_trials={n_trials}", f"hydra.sweep.dir={sweep}")

    def trials_done() -> int:
        try:
            data = json.loads((sweep / "search.json").read_text())
        except (OSError, json.JSONDecodeError):
            return 0
        return sum(t["state"] != "running" for t in data["trials"])

    # killed once `kill_after` trials are done and the next one has its first checkpoint (it will resume)
    kill_when(args, lambda: trials_done() >= kill_after and mid_run(sweep), sweep.with_suffix(".killed.log"))
    killed = json.loads((sweep / "search.json").read_text())
    first = [sweep / t["job"] for t in killed["trials"] if t["state"] != "running"]
    times = mtimes(first)
    print(f"killed after {trials_done()} trials; folders: {sorted(p.name for p in sweep.iterdir() if p.is_dir())}")
    again = run(args)
    print(again.stderr[-1500:])
    data = json.loads((sweep / "search.json").read_text())
    for t in data["trials"]:
        print(f"  trial {t['number']}: {t['state']:8} {data['objective']}={t['value']}  {t['params']}")
    params = {json.dumps(t["params"], sort_keys=True) for t in data["trials"]}
    return {"demo": "search", "exit": again.returncode, "trials": len(data["trials"]),
            "numbers": [t["number"] for t in data["trials"]], "distinct_params": len(params),
            "first_trials_untouched": mtimes(first) == times, "best": data["best"]}


def show_parallel(sweep: Path) -> dict:
    result = run(gan_command(*RING, *SEARCH, "hydra/launcher=local", "hydra.sweeper.n_jobs=2", "hydra.sweeper.n_trials=4",
                             f"hydra.sweep.dir={sweep}"))
    print(result.stderr[-800:])
    spans = {}
    for log in sorted(sweep.glob("*/train.log")):
        lines = log.read_text().splitlines()
        spans[log.parent.name.split("_")[0]] = (lines[0][1:24], lines[-1][1:24])
    for job, (start, end) in spans.items():
        print(f"  trial {job}: {start} -> {end}")
    data = json.loads((sweep / "search.json").read_text())
    return {"demo": "parallel", "exit": result.returncode, "trials": len(data["trials"]), "spans": spans,
            "best": data["best"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("demo", choices=["grid", "search", "parallel"])
    parser.add_argument("--dir", type=Path, default=None, help="the sweep folder (default: a new temporary one)")
    args = parser.parse_args()
    sweep = (args.dir or Path(tempfile.mkdtemp(prefix=f"gan-{args.demo}-"))).resolve()
    print(f"sweep folder: {sweep}")
    result = {"grid": show_grid, "search": show_search, "parallel": show_parallel}[args.demo](sweep)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
