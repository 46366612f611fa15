"""What the checks before a run cost: `check_command_line` (schema, ranges, train pre-flight:
device, optimizers, data, networks on the meta device) for a few command lines.

Cases: the default `gan train` (Fashion-MNIST read once, the DCGAN built), the ring MLP, and a
27-job ring sweep (3 losses x 3 learning rates x 3 seeds: every job composed and checked, the
networks built once per loss). Each is timed `--repeats` times in this process after one
warm-up (imports, Hydra's config search); the median is printed. The last line is a JSON
object: {"seconds": {case: median seconds}, "jobs": {case: jobs checked}}.

    python benchmarks/preflight.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from gan_cli.apps import register_resolvers
from gan_cli.cli import config_dir
from gan_cli.config import register_configs
from gan_cli.config_check import check_command_line

CASES = {
    "default": [],
    "ring": ["dataset=ring", "arch=mlp", "metrics=none"],
    "ring_sweep_27": ["--multirun", "dataset=ring", "arch=mlp", "metrics=none", "loss=ns,hinge,wgan_gp",
                      "optim.g.lr=1e-4,2e-4,4e-4", "seed=0,1,2"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    register_configs()
    register_resolvers()
    seconds = {}
    for name, argv in CASES.items():
        check_command_line("train", config_dir(), argv)  # warm-up
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            check_command_line("train", config_dir(), argv)
            times.append(time.perf_counter() - start)
        seconds[name] = round(statistics.median(times), 3)
        print(f"{name}: median {seconds[name]} s over {args.repeats} repeats", flush=True)
    print(json.dumps({"seconds": seconds, "jobs": {"default": 1, "ring": 1, "ring_sweep_27": 27}}))


if __name__ == "__main__":
    main()
