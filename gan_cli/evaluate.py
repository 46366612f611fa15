"""`gan eval`: score one checkpoint, every checkpoint of a run (a score curve), or two sample sets.

Checkpoints are rebuilt from their saved config and data spec (the training data is only read
for the reference statistics, once, then cached). Scores go to a rich table on the terminal and,
with out=FILE.json, to a file; every score carries its provenance.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf, open_dict
from rich.console import Console
from rich.table import Table

from gan_cli import checkpoint as ckpt_io
from gan_cli.config import DatasetConfig
from gan_cli.data import is_dataset
from gan_cli.data.toy2d import GaussianMixture
from gan_cli.errors import GanError
from gan_cli.generation import load_generator
from gan_cli.metrics.features import choose_extractor
from gan_cli.metrics.image_metrics import (
    accumulate,
    compute_scores,
    fake_accumulator,
    provenance,
)
from gan_cli.metrics.reference import compute_reference, read_reference, real_reference
from gan_cli.metrics.scores import evaluate_generator
from gan_cli.metrics.settings import check_names
from gan_cli.metrics.sources import image_files_or_npz, read_npz
from gan_cli.metrics.toy2d import mode_metrics
from gan_cli.out_paths import check_file_target
from gan_cli.run_config import run_config
from gan_cli.run_log import finite_or_none
from gan_cli.runtime import resolve_device

log = logging.getLogger("gan")


def run_eval(cfg) -> dict:
    given = [k for k in ("checkpoint", "run", "fake") if cfg.get(k)]
    if len(given) != 1:
        raise GanError("gan eval scores one thing: pass exactly one of checkpoint=PATH, run=DIR or fake=PATH (with real=...)")
    if cfg.out:
        check_file_target(Path(cfg.out).expanduser())  # before the scores are computed
    device = resolve_device(cfg.device)
    if cfg.checkpoint:
        result = eval_checkpoint(Path(cfg.checkpoint).expanduser(), cfg, device)
        print_scores(f"gan eval: {cfg.checkpoint}", result)
    elif cfg.run:
        result = eval_run(Path(cfg.run).expanduser(), cfg, device)
    else:
        result = eval_samples(cfg, device)
        print_scores(f"gan eval: {cfg.fake} vs {cfg.real}", result)
    if cfg.out:
        out = Path(cfg.out).expanduser()
        text = json.dumps(finite_or_none(result), indent=2) + "\n"
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text)
        except OSError as e:  # checked before, yet the place changed: keep the scores anyway
            print(text)
            raise GanError(f"out={out}: {e.strerror or e}; the scores are printed above as JSON") from e
        log.info("scores written to %s", out)
    return result


# ----------------------------------------------------------------------------- checkpoints
def eval_checkpoint(path: Path, cfg, device) -> dict:
    ckpt = ckpt_io.safe_load(path)
    G, spec, num_classes = load_generator(ckpt, device, ema=cfg.ema)
    run_cfg = run_config(ckpt)
    with open_dict(run_cfg):
        run_cfg.metrics = OmegaConf.to_container(cfg.metrics, resolve=True)  # this command's metrics, not the run's
        if cfg.data_root:
            run_cfg.dataset.root = cfg.data_root
    scores = evaluate_generator(G, spec, run_cfg, device, num_classes, strict=True)
    ema = cfg.ema and "ema" in ckpt.get("tricks", {})
    return {"checkpoint": str(path), "step": int(ckpt["step"]), "dataset": spec.name,
            "generator": "ema" if ema else "G", **scores}


def run_checkpoints(run_dir: Path) -> list[Path]:
    """The periodic checkpoints in step order, then final.pt (last.pt is a link to one of them)."""
    folder = run_dir / "checkpoints"
    paths = sorted(folder.glob("step_*.pt")) + ([folder / "final.pt"] if (folder / "final.pt").is_file() else [])
    if not paths:
        raise GanError(f"no checkpoints in {folder}: is {run_dir} a `gan train` run folder?")
    return paths


def eval_run(run_dir: Path, cfg, device) -> dict:
    rows = []
    for path in run_checkpoints(run_dir):
        log.info("scoring %s", path)
        rows.append(eval_checkpoint(path, cfg, device))
    print_curve(f"gan eval: {run_dir}", rows)
    return {"run": str(run_dir), "checkpoints": rows}


# ----------------------------------------------------------------------------- sample sets
def eval_samples(cfg, device) -> dict:
    fake = Path(cfg.fake).expanduser()
    if fake.suffix == ".npz" and fake.is_file() and "points" in read_npz(fake):
        return eval_points(fake, cfg.real)
    mcfg = cfg.metrics
    names = check_names(mcfg.names)
    real = cfg.real
    real_is_dataset = is_dataset(real, "image")
    extractor = choose_extractor(mcfg, real if real_is_dataset else "folder", device)
    if extractor is None:
        raise GanError("metrics.features=none: choose inception or classifier to score images")
    fake_batches = image_files_or_npz(cfg.fake, mcfg.batch_size)
    n = fake_batches.total
    ref = None
    if real_is_dataset:
        ref = real_reference(OmegaConf.structured(DatasetConfig(name=real, root=cfg.data_root)), extractor, mcfg, names, n)
    elif real and Path(real).suffix == ".npz" and "mu" in read_npz(Path(real).expanduser()):
        ref = read_reference(Path(real).expanduser())  # precomputed statistics: FID only
    elif real:
        ref = compute_reference(image_files_or_npz(real, mcfg.batch_size), extractor, mcfg, names, n)
    elif names != ["is"]:
        raise GanError(f"{names[0]} compares with real data: pass real=<dataset name, folder or .npz>")
    acc = accumulate(fake_batches, extractor, fake_accumulator(n, names, mcfg, extractor))
    scores = compute_scores(acc, ref, names, mcfg, extractor)
    return {"fake": str(cfg.fake), "real": real, **scores, "provenance": provenance(extractor, acc, ref, names, mcfg)}


def eval_points(path: Path, real: str | None) -> dict:
    if not is_dataset(real, "toy"):
        raise GanError(f"{path} holds 2-D points: pass real=ring or real=grid (the mixture they should match)")
    points = read_npz(path)["points"]
    if points.ndim != 2 or points.shape[1] != 2:
        raise GanError(f"{path}: 'points' is {points.shape}, expected N x 2")
    mixture = GaussianMixture(real)
    return {"fake": str(path), "real": real, "num_samples": len(points),
            **mode_metrics(torch.from_numpy(np.asarray(points, np.float64)), mixture.means, mixture.std)}


# ----------------------------------------------------------------------------- terminal
def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.5g}"
    return str(value)


def print_scores(title: str, result: dict) -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("key", style="bold")
    table.add_column("value")
    for key, value in result.items():
        if key != "provenance":
            table.add_row(key, _fmt(value))
    for key, value in result.get("provenance", {}).items():
        table.add_row(f"[dim]{key}[/]", f"[dim]{_fmt(value)}[/]")
    Console().print(table)


def print_curve(title: str, rows: list[dict]) -> None:
    keys = [k for k in rows[0] if k not in ("checkpoint", "step", "dataset", "generator", "provenance")
            and isinstance(rows[0][k], (int, float))]
    table = Table(title=title, title_justify="left")
    table.add_column("step", justify="right")
    for k in keys:
        table.add_column(k, justify="right")
    for row in rows:
        table.add_row(str(row["step"]), *[_fmt(row.get(k)) for k in keys])
    Console().print(table)
    if rows[0].get("provenance"):
        prov = rows[0]["provenance"]
        Console().print(f"[dim]{prov.get('features')}: {prov.get('extractor')}, weights {prov.get('weights_sha256')}, "
                        f"{prov.get('num_samples')} samples vs {prov.get('real')}[/]")
