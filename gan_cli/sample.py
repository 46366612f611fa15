"""`gan sample`: draw n samples from a checkpoint into a folder of PNGs or one .npz.

Images are uint8 N x H x W x C under `images` (float points N x 2 under `points` for the 2-D
mixtures), with `labels` for conditional generators. The networks are rebuilt from the
checkpoint's config and data spec: the training data is never needed. With the run's seed (the
default) the samples are exactly the first n that `gan eval` scores.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from gan_cli import checkpoint as ckpt_io
from gan_cli.errors import GanError
from gan_cli.generation import class_labels, load_generator
from gan_cli.metrics.sources import EVAL_SEED_OFFSET, generated_images, generated_points
from gan_cli.out_paths import check_file_target, check_folder_target
from gan_cli.run_config import run_config
from gan_cli.runtime import resolve_device
from gan_cli.samples import write_pngs

log = logging.getLogger("gan")


def run_sample(cfg) -> dict:
    if not cfg.checkpoint or not cfg.out:
        raise GanError("gan sample needs checkpoint=PATH and out=DIR (PNG files) or out=FILE.npz")
    if cfg.n < 1:
        raise GanError(f"n={cfg.n}: ask for at least one sample")
    if not 0.0 < cfg.truncation <= 1.0:
        raise GanError(f"truncation={cfg.truncation} must be in (0, 1]: 1 keeps every w, 0.7 is the usual choice")
    out = Path(cfg.out).expanduser()
    if out.suffix == ".npz":
        check_file_target(out)
    else:
        check_folder_target(out)
    device = resolve_device(cfg.device)
    ckpt = ckpt_io.safe_load(Path(cfg.checkpoint).expanduser())
    G, spec, num_classes = load_generator(ckpt, device, ema=cfg.ema)
    run_cfg = run_config(ckpt)
    if cfg.truncation != 1.0:
        if not hasattr(G, "truncation"):
            arch = run_cfg.arch.name
            raise GanError(f"truncation={cfg.truncation} pulls w towards its average, which needs a mapping network: "
                           f"this checkpoint is arch={arch}, not stylegan2; drop truncation")
        G.truncation = cfg.truncation
    class_labels(1, num_classes, cfg.label)  # refuses a class the model does not have
    run_seed = run_cfg.seed
    seed = (run_seed if cfg.seed is None else cfg.seed) + EVAL_SEED_OFFSET
    if spec.kind == "toy":
        if out.suffix != ".npz":
            raise GanError(f"{spec.name} samples are 2-D points: write them to an .npz (out=points.npz), not {out}")
        points = generated_points(G, cfg.n, cfg.batch_size, seed, device, num_classes, cfg.label)
        save_npz(out, points=points.numpy().astype(np.float32))
    elif out.suffix == ".npz":
        images, labels = [], []
        for x, y in generated_images(G, cfg.n, cfg.batch_size, seed, device, num_classes, cfg.label):
            images.append(x.permute(0, 2, 3, 1).cpu().numpy())
            labels.append(None if y is None else y.numpy())
        extra = {"labels": np.concatenate(labels)} if labels[0] is not None else {}
        save_npz(out, images=np.concatenate(images), **extra)
    else:
        write_pngs(out, generated_images(G, cfg.n, cfg.batch_size, seed, device, num_classes, cfg.label))
    log.info("%d samples of %s (step %d) written to %s", cfg.n, cfg.checkpoint, int(ckpt["step"]), out)
    return {"status": "ok", "out": str(out), "n": cfg.n}


def save_npz(path: Path, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
