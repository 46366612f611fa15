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
import re
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan_cli.errors import GanError

FORMAT = "gan-checkpoint"
VERSION = 1
TEMP_SUFFIX = ".tmp"


def atomic_save(obj: Any, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; checkpoints follow the umask like any file
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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def remove_stale_temps(folder: Path) -> list[Path]:
    """Temporary files left by a run killed mid-write (never read: the rename did not happen)."""
    stale = sorted(Path(folder).glob(f".*{TEMP_SUFFIX}"))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def link_or_copy(src: Path, dst: Path) -> None:
    """Point `dst` (e.g. last.pt) at the freshly written `src`, atomically: a hard link where the
    file system allows it (no second write), else a copy written atomically."""
    tmp = dst.with_name(f".{dst.name}.link{TEMP_SUFFIX}")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
        os.replace(tmp, dst)
    except OSError:
        tmp.unlink(missing_ok=True)
        atomic_save(torch.load(src, map_location="cpu", weights_only=True), dst)


def safe_load(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint with weights_only=True; every failure is one line naming the file.

    The file is looked at before torch reads it, so a text file, an .npz or a truncated write is
    named as such instead of surfacing as an unpickling error."""
    path = Path(path)
    if not path.exists():
        raise GanError(f"checkpoint {path} does not exist")
    if not path.is_file():
        raise GanError(f"checkpoint {path} is not a file: pass a .pt file (e.g. <run>/checkpoints/last.pt)")
    _check_container(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "pickle protocol 4": the outcome is reported below
            obj = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        refused = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
        if refused:
            raise GanError(
                f"refusing to load {path}: unpickling it would call {refused.group(1)}, and a checkpoint may hold "
                "only tensors and plain containers. If you trust its source, load it yourself and re-save its "
                "tensors"
            ) from None
        detail = re.search(r"WeightsUnpickler error:\s*([^\n]+)", str(e))
        raise GanError(f"{path} is a pickle torch cannot read safely ({detail.group(1).strip() if detail else _first_line(e)}): "
                       "not a checkpoint written by `gan train`") from None
    except Exception as e:  # torch reports damaged archives with many exception types
        raise GanError(f"{path} is not a readable checkpoint (truncated or corrupt?): {_first_line(e)}") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise GanError(f"{path} is not a gan checkpoint ({_describe(obj)}, no '{FORMAT}' header): "
                       "pass a file written by `gan train` (<run>/checkpoints/*.pt)")
    if obj.get("version", 0) > VERSION:
        raise GanError(f"{path} was written by a newer gan (format version {obj['version']}): upgrade gan")
    return obj


def _check_container(path: Path) -> None:
    """Refuse files that are not in either of torch's formats, with what they look like."""
    with open(path, "rb") as f:
        head = f.read(64)
    if not head:
        raise GanError(f"{path} is empty: the write was interrupted; use an earlier checkpoint")
    if head.startswith(b"PK"):  # torch's zip format
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError):
            raise GanError(f"{path} is truncated or corrupt (its zip directory is unreadable): the write was "
                           "interrupted or the copy is incomplete; use an earlier checkpoint") from None
        if not any(name.endswith("data.pkl") for name in names):
            raise GanError(f"{path} is a zip archive ({', '.join(names[:3])}...) but not a PyTorch checkpoint")
        return
    if head[0] != 0x80:  # torch's legacy format starts with a pickle protocol marker
        kind = "a text file" if _looks_like_text(head) else "not a PyTorch file"
        raise GanError(f"{path} is {kind} (it starts with {head[:16]!r}), not a checkpoint")


def _looks_like_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 3:  # not just a character cut at the end of the sample
            return False
        text = head[: e.start].decode("utf-8")
    return all(c.isprintable() or c in "\t\r\n" for c in text)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines()[0] if text else type(e).__name__)[:200]


def _describe(obj: Any) -> str:
    if isinstance(obj, dict):
        keys = ", ".join(map(str, list(obj)[:4]))
        return f"a dict with keys {keys}{', ...' if len(obj) > 4 else ''}"
    return f"a {type(obj).__name__}"


def load_module_state(target, state: dict, what: str, source: str | Path) -> None:
    """`target.load_state_dict(state)` for a module, optimizer or scaler, with a mismatch (another
    arch, width or dataset) as one line naming what differs."""
    try:
        target.load_state_dict(state)
    except (RuntimeError, ValueError, KeyError) as e:
        text = str(e)
        parts = []
        for label, pattern in (("missing", r"Missing key\(s\) in state_dict: ([^\n]*)"),
                               ("unexpected", r"Unexpected key\(s\) in state_dict: ([^\n]*)")):
            found = re.search(pattern, text)
            if found:
                keys = [k.strip(' ."') for k in found.group(1).split(",") if k.strip(' ."')]
                parts.append(f"{len(keys)} {label} keys (e.g. {keys[0]})")
        sizes = re.findall(r"size mismatch for ([^:]+): copying a param with shape torch.Size\(\[([^\]]*)\]\) "
                           r"from checkpoint, the shape in current model is torch.Size\(\[([^\]]*)\]\)", text)
        if sizes:
            name, saved, here = sizes[0]
            parts.append(f"{len(sizes)} tensors of another shape (e.g. {name}: [{saved}] saved, [{here}] here)")
        detail = "; ".join(parts) or _first_line(e)
        raise GanError(f"{source}: its {what} does not fit this run's ({detail}): the checkpoint comes from "
                       "another arch, width or dataset; use the config it was trained with") from None


def state_differences(a: dict, b: dict, skip: tuple[str, ...] = ("elapsed", "config")) -> list[str]:
    """Where two checkpoints differ: every tensor bit for bit (networks, EMA, optimizers, trick
    and data states, RNG states) and every plain value; top-level keys in `skip` (wall time, the
    config, which records `resume=`) are not compared. Used to prove resumes exact."""
    return _differences({k: v for k, v in a.items() if k not in skip}, {k: v for k, v in b.items() if k not in skip}, "")


def _differences(x, y, path: str) -> list[str]:
    if isinstance(x, torch.Tensor) or isinstance(y, torch.Tensor):
        same = isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor) and x.dtype == y.dtype and torch.equal(x, y)
        return [] if same else [path]
    if isinstance(x, dict) and isinstance(y, dict):
        if x.keys() != y.keys():
            return [f"{path}: keys {sorted(map(str, set(x) ^ set(y)))}"]
        return [d for k in x for d in _differences(x[k], y[k], f"{path}.{k}" if path else str(k))]
    if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)) and len(x) == len(y):
        return [d for i, (u, v) in enumerate(zip(x, y)) for d in _differences(u, v, f"{path}.{i}")]
    return [] if x == y else [path]


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
        "python_gauss": random.getstate()[2],  # the cached second value of random.gauss, or None
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    npst = state["numpy"]
    np.random.set_state((npst["name"], npst["keys"].numpy().astype(np.uint32), npst["pos"], npst["has_gauss"], npst["cached_gaussian"]))
    random.setstate((state["python_version"], tuple(state["python"]), state.get("python_gauss")))
    if "cuda" in state and torch.cuda.is_available():
        # a run resumed on fewer GPUs restores the ones it has
        for index, cuda_state in enumerate(state["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state, index)
