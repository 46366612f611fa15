"""Peak memory of `gan eval` as the number of scored samples grows: it should stay flat.

Generated images are produced, featurised and folded into running float64 statistics batch by
batch under inference mode; only the (N x d) features needed by IS/KID stay, never N images. This
script runs `gan eval checkpoint=... metrics.num_samples=N` for each N in its own process and
prints that process's peak resident memory and wall time.

    python benchmarks/eval_memory.py                  # a fresh 20-step DCGAN, `gan classifier` features
    python benchmarks/eval_memory.py --checkpoint outputs/<run>/checkpoints/final.pt --n 1000 10000 50000
    python benchmarks/eval_memory.py --features inception --n 500 5000   # slow on a CPU

With --features inception and no real Inception weights (no network here) the TF-Inception runs
with seeded random weights: the same network, the same cost, meaningless scores; its reference
statistics use 2,000 real images. The last line is a JSON object.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Runs `gan` in a child process and reports the child's own peak RSS, whatever way it exits.
CHILD = """
import atexit, json, resource, sys
from gan_cli.cli import main
atexit.register(lambda: print("PEAK_RSS_MB " + str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
sys.argv = ["gan"] + sys.argv[1:]
main()
"""


def gan(args: list[str]) -> tuple[float, float, str]:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"gan {' '.join(args)} failed:\n{out.stderr.strip()[-2000:]}")
    peak = float(next(line.split()[1] for line in out.stdout.splitlines() if line.startswith("PEAK_RSS_MB")))
    return peak, seconds, out.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", help="default: train a 20-step DCGAN on Fashion-MNIST first")
    parser.add_argument("--features", default="classifier", choices=["inception", "classifier"])
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--metrics", default="[fid,is,kid]")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint
        if checkpoint is None:
            run = Path(tmp) / "run"
            gan(["train", "arch.width=32", "trainer.steps=20", "metrics=none", "trainer.progress=false",
                 f"hydra.run.dir={run}"])
            checkpoint = str(run / "checkpoints" / "final.pt")
        extra = [f"metrics.features={args.features}", f"metrics.names={args.metrics}"]
        if args.features == "inception":
            import torch

            from gan_cli.metrics.inception import random_tf_inception_state

            weights = Path(tmp) / "random_inception.pth"
            torch.save(random_tf_inception_state(0), weights)
            extra += [f"metrics.inception_weights={weights}", "metrics.real_num_samples=2000"]
        results = {}
        for n in args.n:
            # the reference statistics are computed once and cached: warm the cache first so that
            # every N measures the same work on the real side
            if not results:
                gan(["eval", f"checkpoint={checkpoint}", "metrics.num_samples=1000", *extra])
            peak, seconds, _ = gan(["eval", f"checkpoint={checkpoint}", f"metrics.num_samples={n}", *extra])
            results[n] = {"peak_rss_mb": round(peak, 1), "seconds": round(seconds, 1)}
            print(f"N={n}: peak RSS {peak:.0f} MB, {seconds:.0f} s", flush=True)
    print(json.dumps({"features": args.features, "metrics": args.metrics, "results": results}))


if __name__ == "__main__":
    main()
