"""Output paths checked before the work that fills them, so a computed result is never lost to a
write that fails at the end (a read-only place, a file where a folder is meant, old files)."""

from __future__ import annotations

import os
from pathlib import Path

from gan_cli.errors import GanError


def _nearest_existing(path: Path) -> Path:
    for parent in (path, *path.parents):
        if parent.exists():
            return parent
    return Path(".")


def check_file_target(path: Path, key: str = "out") -> None:
    """`path` can be written as a file: it is not a folder and its folder can be created there."""
    if path.is_dir():
        raise GanError(f"{key}={path} is a folder: give a file name, e.g. {key}={path / 'scores.json'}")
    _check_creatable(path.parent, f"{key}={path}")


def check_folder_target(path: Path, key: str = "out", suffix: str = ".png") -> None:
    """`path` can be written as a folder of new `suffix` files: not a file, not holding old ones
    (the new files would mix with them unnoticed)."""
    if path.exists() and not path.is_dir():
        raise GanError(f"{key}={path} is a file: give a folder for the PNG files, or a name ending in .npz")
    if path.is_dir():
        old = sum(1 for p in path.iterdir() if p.suffix == suffix)
        if old:
            raise GanError(f"{key}={path} already holds {old} {suffix} files, which the new ones would mix with: "
                           "give a new or empty folder")
    _check_creatable(path, f"{key}={path}")


def _check_creatable(folder: Path, given: str) -> None:
    existing = _nearest_existing(folder.resolve())
    if not existing.is_dir():
        raise GanError(f"{given}: {existing} is a file, so no folder can be made there: choose another path")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise GanError(f"{given}: {existing} is not writable: choose another path")
