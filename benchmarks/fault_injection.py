"""Fault injection: runs on `ring` killed with SIGKILL at random moments after their first
checkpoint exists, then continued with `gan train resume=<run dir>`, must end bit-identical to
the run that never stopped: every tensor of the final checkpoint (G, D, EMA, optimizers, trick,
data and RNG states) and every logged loss.

    python benchmarks/fault_injection.py                       # 3 trials, one kill each
    python benchmarks/fault_injection.py --trials 5 --kills 2  # kill the resumed run too

Exit code 0 when every trial matches. A kill may land while a checkpoint is being written: the
trial then also shows that the previous checkpoint stayed loadable (the resume starts from it).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gan_cli import checkpoint as ckpt_io  # noqa: E402

RUN = [
    "experiment=ring",
    "tricks=[ema]",
    "arch.g_hidden=[64,64]",
    "arch.d_hidden=[64,64]",
    "trainer.batch_size=64",
    "trainer.sample_every=0",
    "trainer.progress=false",
    "metrics.toy_samples=500",
    "device=cpu",
]


def gan(args: list[str], wait: bool = True):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    command = [sys.executable, "-m", "gan_cli.cli", *args]
    if wait:
        return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for_checkpoint(last: Path, process: subprocess.Popen, timeout: float = 600) -> float:
    """Wait until `last` is written anew (a resumed run has its own first checkpoint)."""
    before = last.stat().st_mtime_ns if last.exists() else None
    start = time.monotonic()
    while not last.exists() or last.stat().st_mtime_ns == before:
        if process.poll() is not None:
            raise RuntimeError(f"the run ended (exit {process.returncode}) before writing {last}")
        if time.monotonic() - start > timeout:
            raise RuntimeError(f"{last} was not written within {timeout} s")
        time.sleep(0.005)
    return time.monotonic()


def kill_at_random(args: list[str], run_dir: Path, window: float, rng: random.Random) -> dict:
    """Start (or resume) a run, SIGKILL it at a random moment after a checkpoint exists."""
    last = run_dir / "checkpoints" / "last.pt"
    process = gan(args, wait=False)
    try:
        wait_for_checkpoint(last, process)
        delay = rng.uniform(0.0, window)
        time.sleep(delay)
        finished = process.poll() is not None
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    stale = sorted(p.name for p in (run_dir / "checkpoints").glob(".*.tmp"))
    return {
        "delay_s": round(delay, 3),
        "finished_before_kill": finished,
        "last_checkpoint_step": ckpt_io.safe_load(last)["step"],  # loadable whatever the moment
        "killed_mid_write": bool(stale),
    }


def losses(run_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k == "step" or k.startswith(("d/", "g/"))} for row in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--kills", type=int, default=1, help="SIGKILLs per trial (the resumed run is killed again)")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--checkpoint-every", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    parser.add_argument("--out", type=Path, default=None, help="folder for the runs (default: a temporary one)")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="gan-faults-"))
    rng = random.Random(args.seed)
    run = [*RUN, f"trainer.steps={args.steps}", f"trainer.checkpoint_every={args.checkpoint_every}",
           "trainer.log_every=10", "trainer.keep_checkpoints=2"]

    reference = out / "reference"
    shutil.rmtree(reference, ignore_errors=True)
    process = gan(["train", *run, f"hydra.run.dir={reference}"], wait=False)
    first_checkpoint = wait_for_checkpoint(reference / "checkpoints" / "last.pt", process)
    process.wait()
    if process.returncode != 0:
        print(f"the reference run failed with exit code {process.returncode}", file=sys.stderr)
        return 2
    # kill moments are drawn over the part of a run after its first checkpoint (less the final
    # samples and scores)
    window = 0.8 * (time.monotonic() - first_checkpoint)
    print(f"reference: {args.steps} steps, {window:.1f} s after its first checkpoint ({reference})")

    failures = 0
    for trial in range(args.trials):
        run_dir = out / f"trial_{trial}"
        for _ in range(5):  # a kill after the last training step tests nothing: draw again
            shutil.rmtree(run_dir, ignore_errors=True)
            kills = [kill_at_random(["train", *run, f"hydra.run.dir={run_dir}"], run_dir, window, rng)]
            if kills[0]["last_checkpoint_step"] < args.steps:
                break
        for _ in range(args.kills - 1):
            kills.append(kill_at_random(["train", f"resume={run_dir}"], run_dir, window, rng))
        resumed = gan(["train", f"resume={run_dir}"])
        if resumed.returncode != 0 and "already finished" not in resumed.stderr:
            print(f"trial {trial}: resume failed:\n{resumed.stderr}", file=sys.stderr)
            failures += 1
            continue
        diff = ckpt_io.state_differences(ckpt_io.safe_load(reference / "checkpoints" / "final.pt"),
                                         ckpt_io.safe_load(run_dir / "checkpoints" / "final.pt"))
        same_log = losses(run_dir) == losses(reference)
        ok = not diff and same_log
        failures += not ok
        where = ", ".join(
            f"SIGKILL {k['delay_s']:.2f} s after a checkpoint, last.pt at step {k['last_checkpoint_step']}"
            + (" (killed mid-write)" if k["killed_mid_write"] else "")
            + (" (had already finished)" if k["finished_before_kill"] else "")
            for k in kills
        )
        verdict = "bit-identical" if ok else f"DIFFERS: {diff[:5]}{'' if same_log else ' and the logged losses'}"
        print(f"trial {trial}: {where}; resumed to step {args.steps}: {verdict}")
    print(f"{args.trials - failures} of {args.trials} trials bit-identical to the uninterrupted run ({out})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
