"""Small-data benchmark: augmentation and regularisation on Fashion-MNIST subsets, over seeds.

Each cell trains the default recipe (`gan train`: class-conditional DCGAN, its network, optimizer
and budget) on `dataset.limit=<size>` with one set of tricks, and reads the final FID (in the
domain classifier's space, 10k samples, against the whole training split) from summary.json,
and ADA's p from metrics.jsonl. The table gives mean ± std over seeds per size and configuration.

Configurations (join tricks with '+'):
  none, diffaugment, ada, diffaugment+lecam, ada+lecam     the issue's table
  diffaugment_reals                                       the negative control: reals only augmented
  1.0 as a size is the full data (augmentation should not hurt there; ADA's p should stay near 0)

  python benchmarks/small_data.py                                  # the full table (hours on a CPU)
  python benchmarks/small_data.py --sizes 0.01,0.1 --seeds 0 --steps 2000 --workers 1   # reduced
Runs are in-process; --workers N runs N cells at once (each single-threaded). The last line
printed is a JSON object with every cell's mean and std.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from toy_grid import add_table_arguments, fmt, output_folder, train_cell  # noqa: E402  (the toy table's cell runner and mean ± std)

DEFAULT_SIZES = "0.01,0.1,1.0"
DEFAULT_CONFIGS = "none,diffaugment,ada,diffaugment+lecam,ada+lecam,diffaugment_reals"
NEGATIVE_CONTROL = "diffaugment_reals"


def cell_overrides(size: float, config: str, seed: int, steps: int | None, extra: list[str]) -> list[str]:
    # no wall-clock budget (the recipe's max_minutes): on a loaded machine it would end cells at
    # different steps, and the table compares equal numbers of steps
    overrides = [f"seed={seed}", "trainer.progress=false", "device=cpu", "trainer.max_minutes=null"]
    if size < 1:
        overrides.append(f"dataset.limit={size}")
    if config == NEGATIVE_CONTROL:
        overrides += ["tricks=[diffaugment]", "tricks.diffaugment.apply_to=reals"]
    else:
        overrides.append(f"tricks=[{'' if config == 'none' else config.replace('+', ',')}]")
    if steps:
        overrides.append(f"trainer.steps={steps}")
    # options of tricks this cell does not use (tricks.ada.kimg=100 in a cell without ada) are dropped
    used = set(config.replace(NEGATIVE_CONTROL, "diffaugment").split("+"))
    return overrides + [o for o in extra if not o.startswith("tricks.") or o.split(".")[1] in used]


def ada_trajectory(run_dir: Path) -> list[tuple[int, float]]:
    """(step, p) from the run's metrics.jsonl, for runs with ada."""
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [(r["step"], r["ada/p"]) for r in rows if "ada/p" in r]


def run_extras(run_dir: Path) -> dict:
    """Which images the run trained on, and ADA's p over the run."""
    written = json.loads((run_dir / "summary.json").read_text())
    p = ada_trajectory(run_dir)
    return {"dataset_subset": written.get("dataset_subset"), **({"ada_p": p} if p else {})}


def run_cell(job: dict) -> dict:
    return train_cell(job, ("size", "config", "seed"), ("fid",), run_extras)


def summarise(results: list[dict]) -> dict:
    """{size: {config: {fid_mean, fid_std, seeds, ada_p_final}}}."""
    out: dict = {}
    for r in results:
        cell = out.setdefault(str(r["size"]), {}).setdefault(r["config"], {"fids": [], "p": []})
        if r.get("status") == "finished" and r.get("fid") is not None:
            cell["fids"].append(r["fid"])
        if r.get("ada_p"):
            cell["p"].append(r["ada_p"][-1][1])
    for configs in out.values():
        for cell in configs.values():
            fids, p = cell.pop("fids"), cell.pop("p")
            cell["seeds"] = len(fids)
            cell["fid_mean"] = round(statistics.fmean(fids), 3) if fids else None
            cell["fid_std"] = round(statistics.pstdev(fids), 3) if len(fids) > 1 else (0.0 if fids else None)
            if p:
                cell["ada_p_final"] = round(statistics.fmean(p), 4)
    return out


def table(results: list[dict], sizes: list[float], configs: list[str]) -> str:
    lines = ["| configuration | " + " | ".join(f"{s:g} ({'full' if s >= 1 else f'{s:.0%}'})" for s in sizes) + " |",
             "|---|" + "---|" * len(sizes)]
    for config in configs:
        row = [config + (" (negative control)" if config == NEGATIVE_CONTROL else "")]
        for size in sizes:
            runs = [r for r in results if r["size"] == size and r["config"] == config]
            fids = [r["fid"] for r in runs if r.get("status") == "finished" and r.get("fid") is not None]
            if not runs:
                row.append("")
            elif not fids:
                row.append((runs[0].get("error") or runs[0].get("status") or "?")[:60])
            else:
                p = [r["ada_p"][-1][1] for r in runs if r.get("ada_p")]
                row.append(fmt(fids) + (f" (p {statistics.fmean(p):.3f})" if p else ""))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="fractions (or image counts) of the training split")
    parser.add_argument("--configs", default=DEFAULT_CONFIGS, help="comma-separated; tricks of one joined by '+'")
    parser.add_argument("--steps", type=int, default=None, help="generator steps; default: the recipe's")
    add_table_arguments(parser)
    args = parser.parse_args(argv)
    out = output_folder(args.out, "small_data")
    sizes = [float(s) for s in args.sizes.split(",")]
    configs = args.configs.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    jobs = [{"size": size, "config": config, "seed": seed,
             "run_dir": str(out / "runs" / f"{size:g}_{config}_s{seed}"),
             "overrides": cell_overrides(size, config, seed, args.steps, args.set)}
            for size in sizes for config in configs for seed in seeds]
    print(f"{len(jobs)} runs -> {out}", flush=True)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    results = []
    with (out / "results.jsonl").open("a") as log, ProcessPoolExecutor(args.workers) as pool:
        for result in pool.map(run_cell, jobs):
            results.append(result)
            log.write(json.dumps(result) + "\n")
            log.flush()
            print(json.dumps({k: v for k, v in result.items() if k != "ada_p"}), flush=True)
    text = table(results, sizes, configs)
    (out / "table.md").write_text(text)
    print(text)
    print(json.dumps({"steps": args.steps, "seeds": seeds, "results": summarise(results)}))


if __name__ == "__main__":
    main()
