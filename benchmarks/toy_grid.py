"""Mode-collapse benchmark: a loss x trick grid on the 2-D ring and grid over several seeds.

Each cell trains `experiment=<toy> loss=<loss> tricks=[<tricks>] seed=<s>` (the preset's
architecture, batch and steps; each loss keeps its paper optimizer and critic steps unless
--set overrides them) and reads the mode metrics of its summary.json (REFERENCES.md protocol,
2,500 samples). The table gives mean ± std over seeds of modes / high-quality % / reverse KL,
beside PacGAN's published figures, and is written with the raw results under --out.

  python benchmarks/toy_grid.py                                  # the default grid, 3 seeds
  python benchmarks/toy_grid.py --presets                        # only the shipped presets
  python benchmarks/toy_grid.py --toys ring --losses ns,hinge --tricks none,pack --seeds 0 \
      --set trainer.steps=1000                                   # a quick look
Runs are in-process and single-threaded (tiny MLPs gain nothing from threads); --workers N
runs N cells at once.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# PacGAN Table 1 (modes / high-quality % / reverse KL), REFERENCES.md
PUBLISHED = {
    "ring": {"GAN": (6.3, 98.2, 0.45), "PacGAN2": (7.9, 95.6, 0.07), "PacGAN4": (7.8, 95.9, 0.07)},
    "grid": {"GAN": (17.3, 94.8, 0.70), "PacGAN2": (23.8, 91.3, 0.13), "PacGAN4": (24.8, 93.6, 0.04)},
}
# The targets: at least PacGAN4 on every column (ring modes: the better PacGAN2 figure).
TARGETS = {"ring": (7.9, 95.9, 0.07), "grid": (24.8, 93.6, 0.04)}

DEFAULT_LOSSES = ["ns", "lsgan", "hinge", "wgan", "wgan_gp", "ragan"]
# r1_toy / ema_toy: R1 and EMA as tuned for the toys (conf/tricks); together they are the presets'
# tricks. minibatch_discrimination is left out by default: its O(N^2 B C) layer costs about
# 100x an MLP step at batch 256 (add it with --tricks).
DEFAULT_TRICKS = ["none", "pack", "spectral_norm", "r1_toy+ema_toy"]
PRESET = "preset"  # the experiment's own loss and tricks


def cell_overrides(toy: str, loss: str, tricks: str, seed: int, extra: list[str]) -> list[str]:
    overrides = [f"experiment={toy}", f"seed={seed}", "trainer.progress=false", "device=cpu"]
    if loss != PRESET:
        overrides.append(f"loss={loss}")
    if tricks != PRESET:
        overrides.append(f"tricks=[{'' if tricks == 'none' else tricks.replace('+', ',')}]")
        # options of tricks this cell does not use (tricks.pack.m=4 in a cell without pack) are dropped
        chosen = {field for option in tricks.split("+") for field in trick_fields(option)}
        extra = [o for o in extra if not o.startswith("tricks.") or o.split(".")[1] in chosen]
    return overrides + extra


def trick_fields(option: str) -> list[str]:
    """The tricks an option of the tricks group sets: conf/tricks/r1_toy.yaml sets `r1`."""
    from omegaconf import OmegaConf

    path = ROOT / "conf" / "tricks" / f"{option}.yaml"
    return list(OmegaConf.load(path)) if path.exists() else [option]


def add_table_arguments(parser) -> None:
    """The options every table of cells takes (this grid, benchmarks/small_data.py)."""
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="extra overrides for every cell")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", default=None, help="folder for runs, results.jsonl and table.md")


def output_folder(out: str | None, name: str) -> Path:
    """--out, or a new dated folder under outputs/benchmarks/."""
    folder = Path(out or ROOT / "outputs" / "benchmarks" / f"{name}_{datetime.now():%Y%m%d_%H%M%S}")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def train_cell(job: dict, labels: tuple[str, ...], scores: tuple[str, ...], extras=None) -> dict:
    """Train one cell in this process, single-threaded; a failure (refused combination,
    divergence, crash) is a result, not the end of the table. The cell's folder is met as a sweep
    job meets its own (gan_cli/train.py run_sweep_job): a finished cell is read, not trained again,
    and one a kill stopped goes on from its last checkpoint, so a table run again with the same
    --out picks up where it stopped. `labels` are copied from the job,
    `scores` from the run's summary; `extras(run_dir)` adds what else the caller reads from the run
    folder. Shared by the benchmarks that run tables of cells (benchmarks/small_data.py too)."""
    import logging

    import torch
    from hydra import compose, initialize_config_dir

    from gan_cli import trainer as trainer_module
    from gan_cli.apps import register_resolvers
    from gan_cli.config import register_configs
    from gan_cli.errors import GanError
    from gan_cli.train import run_sweep_job

    torch.set_num_threads(1)
    logging.getLogger("gan").setLevel(logging.WARNING)
    trainer_module.summary_table = lambda *args, **kwargs: None  # one JSON line per run is enough here
    register_configs()
    register_resolvers()
    start, cpu_start = time.perf_counter(), time.process_time()
    result = {k: job[k] for k in labels}
    try:
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
            cfg = compose("train", overrides=job["overrides"])
        summary = run_sweep_job(Path(job["run_dir"]), cfg, [])
        result.update({k: summary.get(k) for k in ("status", *scores, "steps")})
        if extras is not None:
            result.update(extras(Path(job["run_dir"])))
    except GanError as e:
        result.update(status="failed", error=str(e))
    except Exception as e:  # a crash in one cell must not lose the rest of the table
        result.update(status="failed", error=f"{type(e).__name__}: {e}")
    result["seconds"] = round(time.perf_counter() - start, 1)
    # single-threaded: CPU seconds are the wall time on an otherwise idle core
    result["cpu_seconds"] = round(time.process_time() - cpu_start, 1)
    return result


def run_cell(job: dict) -> dict:
    return train_cell(job, ("toy", "loss", "tricks", "seed"), ("modes", "hq_fraction", "reverse_kl"))


def fmt(values: list[float], scale: float = 1.0, digits: int = 2) -> str:
    values = [v * scale for v in values if v is not None and math.isfinite(v)]
    if not values:
        return "n/a"
    mean = statistics.fmean(values)
    std = statistics.pstdev(values) if len(values) > 1 else 0.0
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def table(results: list[dict]) -> str:
    cells: dict[tuple, list[dict]] = {}
    for r in results:
        cells.setdefault((r["toy"], r["loss"], r["tricks"]), []).append(r)
    lines = []
    for toy in dict.fromkeys(r["toy"] for r in results):
        t_modes, t_hq, t_kl = TARGETS[toy]
        lines += [f"\n### {toy} (target: modes >= {t_modes}, high-quality >= {t_hq} %, reverse KL <= {t_kl})", "",
                  "| loss | tricks | modes | high-quality % | reverse KL | beats PacGAN4 | CPU s/run |",
                  "|---|---|---|---|---|---|---|"]
        for (cell_toy, loss, tricks), runs in cells.items():
            if cell_toy != toy:
                continue
            ok = [r for r in runs if r.get("status") == "finished"]
            if not ok:
                reason = runs[0].get("error", runs[0].get("status", "?"))[:80]
                lines.append(f"| {loss} | {tricks} | {reason} | | | no | |")
                continue
            modes = [r["modes"] for r in ok]
            hq = [r["hq_fraction"] for r in ok]
            kl = [r["reverse_kl"] if r["reverse_kl"] is not None else math.inf for r in ok]
            wins = (len(ok) == len(runs) and statistics.fmean(modes) >= t_modes and statistics.fmean(hq) * 100 >= t_hq
                    and statistics.fmean(kl) <= t_kl)
            seconds = statistics.fmean(r["cpu_seconds"] for r in ok)
            note = "" if len(ok) == len(runs) else f" ({len(runs) - len(ok)} of {len(runs)} seeds failed)"
            lines.append(f"| {loss} | {tricks} | {fmt(modes)}{note} | {fmt(hq, 100, 1)} | {fmt(kl, 1, 3)} | "
                         f"{'yes' if wins else 'no'} | {seconds:.0f} |")
        for name, (m, h, k) in PUBLISHED[toy].items():
            lines.append(f"| {name} (PacGAN Table 1) | | {m} | {h} | {k} | | |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--toys", default="ring,grid")
    parser.add_argument("--losses", default=",".join(DEFAULT_LOSSES),
                        help=f"comma-separated loss names, or '{PRESET}' for the experiment's own")
    parser.add_argument("--tricks", default=",".join(DEFAULT_TRICKS),
                        help=f"comma-separated trick sets; join tricks of one set with '+'; 'none'; '{PRESET}'")
    parser.add_argument("--presets", action="store_true", help="only the experiment presets themselves")
    add_table_arguments(parser)
    args = parser.parse_args(argv)
    out = output_folder(args.out, "toy_grid")
    losses = [PRESET] if args.presets else args.losses.split(",")
    trick_sets = [PRESET] if args.presets else args.tricks.split(",")
    jobs = []
    for toy in args.toys.split(","):
        for loss in losses:
            for tricks in trick_sets:
                for seed in (int(s) for s in args.seeds.split(",")):
                    run_dir = out / "runs" / f"{toy}_{loss}_{tricks}_s{seed}"
                    jobs.append({"toy": toy, "loss": loss, "tricks": tricks, "seed": seed, "run_dir": str(run_dir),
                                 "overrides": cell_overrides(toy, loss, tricks, seed, args.set)})
    print(f"{len(jobs)} runs -> {out}", flush=True)
    results = []
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with (out / "results.jsonl").open("a") as log, ProcessPoolExecutor(args.workers) as pool:
        for result in pool.map(run_cell, jobs):
            results.append(result)
            log.write(json.dumps(result) + "\n")
            log.flush()
            print(json.dumps(result), flush=True)
    text = table(results)
    (out / "table.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
