"""Atomic checkpoint writes and safe reads.

A checkpoint is a dict of tensors and plain containers only, so it loads with
`torch.load(weights_only=True)`: a file that needs pickle to load (and could run code) is
refused. Writes go to a temporary file in the same folder, are fsynced, then renamed over the
target, so a kill at any moment leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
import pickle
import random
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan_cli.errors import GanError

FORMAT = "gan-checkpoint"
VERSION = 1


def atomic_save(obj: Any, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    # make the rename itself durable
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def link_or_copy(src: Path, dst: Path) -> None:
    """Point `dst` (e.g. last.pt) at the freshly written `src`, atomically: a hard link where the
    file system allows it (no second write), else a copy written atomically."""
    tmp = dst.with_name(f".{dst.name}.link.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
        os.replace(tmp, dst)
    except OSError:
        tmp.unlink(missing_ok=True)
        atomic_save(torch.load(src, map_location="cpu", weights_only=True), dst)


def safe_load(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint with weights_only=True; every failure is one line naming the file."""
    path = Path(path)
    if not path.is_file():
        raise GanError(f"checkpoint {path} does not exist")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "unsupported object"
        raise GanError(
            f"refusing to load {path}: it needs pickle to load ({first[:160]}); only tensors and plain "
            "containers are accepted. Load it only if you trust it and re-save its state dicts"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise GanError(f"{path} is not a readable checkpoint (truncated or corrupt: {first[:160]})") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise GanError(f"{path} is not a gan checkpoint (no '{FORMAT}' header): was it written by `gan train`?")
    if obj.get("version", 0) > VERSION:
        raise GanError(f"{path} was written by a newer gan (format version {obj['version']}): upgrade gan")
    return obj


# ----------------------------------------------------------------------------- RNG states
def rng_state() -> dict:
    """Every random number generator a run touches, as tensors and plain containers."""
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "name": np_state[0],
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": list(random.getstate()[1]),
        "python_version": random.getstate()[0],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    npst = state["numpy"]
    np.random.set_state((npst["name"], npst["keys"].numpy().astype(np.uint32), npst["pos"], npst["has_gauss"], npst["cached_gaussian"]))
    random.setstate((state["python_version"], tuple(state["python"]), None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
