"""Safe checkpoints: nothing in a checkpoint can run code, damaged or foreign files are one line
naming the file, and a kill in the middle of a write leaves the previous checkpoint loadable."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from gan_cli import checkpoint as ckpt_io
from gan_cli.errors import GanError
from tests.helpers import start_python


def gan_checkpoint(**extra) -> dict:
    return {"format": ckpt_io.FORMAT, "version": ckpt_io.VERSION, "G": {"w": torch.arange(4.0)}, **extra}


class CreatesAFile:
    """Unpickling this calls open(path, "w"): the file appearing would prove code ran."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_pickle_that_would_create_a_file_is_refused_and_creates_nothing(tmp_path, legacy):
    target = tmp_path / "pwned.txt"
    path = tmp_path / "evil.pt"
    torch.save(gan_checkpoint(payload=CreatesAFile(target)), path, _use_new_zipfile_serialization=not legacy)
    with pytest.raises(GanError) as info:
        ckpt_io.safe_load(path)
    assert not target.exists()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"refusing to load {path}: unpickling it would call ") and "open" in message


def test_raw_pickle_is_refused_and_creates_nothing(tmp_path):
    target = tmp_path / "pwned.txt"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"x": CreatesAFile(target)}, protocol=2))
    with pytest.raises(GanError, match="refusing to load"):
        ckpt_io.safe_load(path)
    assert not target.exists()


def foreign_files(folder: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, what the one-line message must say)."""
    good = folder / "good.pt"
    ckpt_io.atomic_save(gan_checkpoint(big=torch.zeros(10_000)), good)
    data = good.read_bytes()
    files = {
        "truncated": (data[: len(data) // 2], "is truncated or corrupt (its zip directory is unreadable)"),
        "truncated_tiny": (data[:100], "is truncated or corrupt"),
        "empty": (b"", "is empty"),
        "text": (b"step,loss\n1,0.5\n", "is a text file (it starts with b'step,loss\\n1,0.5\\n'), not a checkpoint"),
        "random": (bytes(range(7, 250)), "is not a PyTorch file"),
    }
    out = {}
    for name, (content, expected) in files.items():
        (folder / name).write_bytes(content)
        out[name] = (folder / name, expected)
    torch.save({"weight": torch.ones(2)}, folder / "state_dict.pt")
    out["state_dict"] = (folder / "state_dict.pt", "is not a gan checkpoint (a dict with keys weight, no 'gan-checkpoint' header)")
    torch.save([torch.ones(2)], folder / "list.pt")
    out["list"] = (folder / "list.pt", "is not a gan checkpoint (a list")
    np.savez(folder / "arrays.npz", a=np.ones(2))
    out["npz"] = (folder / "arrays.npz", "is a zip archive (a.npy...) but not a PyTorch checkpoint")
    out["missing"] = (folder / "nope.pt", "does not exist")
    out["folder"] = (folder, "is not a file")
    return out


def test_foreign_and_damaged_files_are_one_line_naming_the_file(tmp_path):
    for name, (path, expected) in foreign_files(tmp_path).items():
        with pytest.raises(GanError) as info:
            ckpt_io.safe_load(path)
        message = str(info.value)
        assert "\n" not in message, name
        assert str(path) in message, name
        assert expected in message, (name, message)


def test_newer_format_is_refused(tmp_path):
    torch.save({**gan_checkpoint(), "version": ckpt_io.VERSION + 1}, tmp_path / "new.pt")
    with pytest.raises(GanError, match="written by a newer gan"):
        ckpt_io.safe_load(tmp_path / "new.pt")


def test_checkpoint_files_follow_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        ckpt_io.atomic_save(gan_checkpoint(), tmp_path / "a.pt")
    finally:
        os.umask(previous)
    assert (tmp_path / "a.pt").stat().st_mode & 0o777 == 0o644


WRITER = """
import sys, torch
from gan_cli import checkpoint as ckpt_io
path = sys.argv[1]
ckpt_io.atomic_save({"format": ckpt_io.FORMAT, "version": 1, "step": 1, "w": torch.ones(3)}, path)
print("first written", flush=True)
# the second write is large enough to be caught half-way
ckpt_io.atomic_save({"format": ckpt_io.FORMAT, "version": 1, "step": 2, "w": torch.ones(100_000_000)}, path)
print("second written", flush=True)
"""


def test_kill_during_a_checkpoint_write_leaves_the_previous_one_loadable(tmp_path):
    path = tmp_path / "last.pt"
    child = start_python("-c", WRITER, str(path), stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "first written"
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(".last.pt.*.tmp")):  # the second write has begun
            assert time.monotonic() < deadline and child.poll() is None, "the second write never started"
            time.sleep(0.001)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert child.stdout.read() == ""  # killed before the second write completed
    state = ckpt_io.safe_load(path)
    assert state["step"] == 1 and torch.equal(state["w"], torch.ones(3))
    # the half-written temporary file is left behind, and resume removes it
    assert [p.name for p in ckpt_io.remove_stale_temps(tmp_path)]
    assert not list(tmp_path.glob(".*.tmp"))
