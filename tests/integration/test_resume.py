"""Exact resume: a run continued from any checkpoint ends bit-identical to the run that never
stopped (all tensors of the final checkpoint, RNG states included), on the CPU."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import torch

from gan_cli import checkpoint as ckpt_io
from gan_cli.errors import DivergenceError, GanError
from gan_cli.trainer import Trainer
from tests.conftest import make_cfg
from tests.helpers import TINY_RING, state_differences

pytestmark = pytest.mark.usefixtures("one_thread")

VARIANTS = {
    # d_steps=1 reuses the D step's fake batch for G; EMA has its own state; scores and
    # samples during training must not touch the training RNG.
    "reuse_fake+ema+eval+samples": ["tricks=[ema]", "trainer.eval_every=4", "trainer.sample_every=6"],
    # d_steps=2 draws fresh noise for the G step.
    "d_steps=2": ["trainer.d_steps=2"],
}


def run(run_dir, overrides, resume_from=None) -> Trainer:
    trainer = Trainer(make_cfg(overrides), run_dir)
    if resume_from is not None:
        trainer.load_state_dict(ckpt_io.safe_load(resume_from), source=resume_from)
    trainer.fit()
    return trainer


def losses(run_dir) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k.startswith(("d/", "g/", "step"))} for row in rows]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_resume_from_a_middle_checkpoint_is_bit_identical(tmp_path, variant):
    # log_every=3 and checkpoint_every=5: the checkpoint falls inside a log interval, so the
    # partial loss sums must travel in the checkpoint too.
    overrides = [*TINY_RING, "trainer.steps=12", "trainer.checkpoint_every=5", "trainer.log_every=3",
                 "trainer.keep_checkpoints=5", *VARIANTS[variant]]
    run(tmp_path / "whole", overrides)
    middle = tmp_path / "whole" / "checkpoints" / "step_0000005.pt"
    run(tmp_path / "resumed", overrides, resume_from=middle)

    assert state_differences(tmp_path / "whole/checkpoints/final.pt", tmp_path / "resumed/checkpoints/final.pt") == []
    after = [row for row in losses(tmp_path / "whole") if row["step"] > 5]
    assert losses(tmp_path / "resumed") == after  # the same log rows, bit for bit


def test_resume_of_an_image_run_with_every_source_of_state(tmp_path):
    """DCGAN with batch norm, EMA, the in-memory epoch order and d_steps=2 on real Fashion-MNIST."""
    overrides = ["dataset=fashion_mnist", "dataset.limit=64", "arch.width=4", "trainer.batch_size=16",
                 "trainer.steps=6", "trainer.checkpoint_every=3", "trainer.log_every=2", "trainer.d_steps=2",
                 "trainer.sample_every=3", "trainer.num_samples=4", "tricks=[ema]", "metrics=none",
                 "trainer.progress=false", "device=cpu"]
    run(tmp_path / "whole", overrides)
    run(tmp_path / "resumed", overrides, resume_from=tmp_path / "whole/checkpoints/step_0000003.pt")
    assert state_differences(tmp_path / "whole/checkpoints/final.pt", tmp_path / "resumed/checkpoints/final.pt") == []


def test_checkpoint_of_another_architecture_is_one_clear_line(tmp_path):
    run(tmp_path / "small", [*TINY_RING, "trainer.steps=2", "trainer.checkpoint_every=0"])
    other = Trainer(make_cfg([*TINY_RING, "arch.g_hidden=[16,16]"]), tmp_path / "other")
    source = tmp_path / "small/checkpoints/final.pt"
    with pytest.raises(GanError) as info:
        other.load_state_dict(ckpt_io.safe_load(source), source=source)
    message = str(info.value)
    assert "\n" not in message and str(source) in message
    assert "its generator does not fit this run's" in message
    assert re.search(r"\d+ tensors of another shape \(e.g. \S+: \[32, 2\] saved, \[16, 2\] here\)", message)


# ----------------------------------------------------------------------------- divergence
def test_divergence_names_the_first_bad_step_and_loss_not_the_log_step(tmp_path):
    overrides = [*TINY_RING, "trainer.steps=50", "trainer.log_every=40", "optim.g.lr=1e30", "optim.d.lr=1e30"]
    with pytest.raises(DivergenceError, match=r"diverged at step 1: [dg]/loss is nan; no checkpoint was written yet") as info:
        run(tmp_path, overrides)
    # the hint proposes lower rates, not the ones that diverged
    assert "start again with lower learning rates (optim.g.lr=5e+29 optim.d.lr=5e+29)" in str(info.value)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["steps"] == 1
    assert not list(tmp_path.glob("checkpoints/*.pt"))


def test_divergence_after_a_checkpoint_keeps_the_last_good_one(tmp_path):
    good = [*TINY_RING, "trainer.steps=4", "trainer.checkpoint_every=4", "trainer.log_every=2"]
    run(tmp_path, good)
    last = tmp_path / "checkpoints" / "last.pt"
    before = last.read_bytes()
    # Continue from it with absurd learning rates: the config's new lr must win over the one
    # saved in the optimizer state, and the run must stop without touching last.pt.
    trainer = Trainer(make_cfg([*good, "trainer.steps=20", "optim.g.lr=1e30", "optim.d.lr=1e30"]), tmp_path)
    trainer.load_state_dict(ckpt_io.safe_load(last), source=last)
    assert trainer.opt_d.param_groups[0]["lr"] == 1e30
    trainer.checkpoints.last = last
    with pytest.raises(DivergenceError, match=rf"diverged at step 5: .*the last good checkpoint is {last}"):
        trainer.fit()
    assert last.read_bytes() == before
    state = ckpt_io.safe_load(last)
    assert state["step"] == 4 and all(torch.isfinite(p).all() for p in state["G"].values())


def test_a_non_finite_state_is_never_written(tmp_path):
    # With the loss check off, the run goes on until its first checkpoint, which is refused.
    overrides = [*TINY_RING, "trainer.steps=6", "trainer.checkpoint_every=3", "trainer.check_finite=false",
                 "optim.g.lr=1e30", "optim.d.lr=1e30"]
    with pytest.raises(DivergenceError, match=r"by step 3: \S+ is not finite, so no checkpoint was written"):
        run(tmp_path, overrides)
    assert not list(tmp_path.glob("checkpoints/*.pt"))


def test_resume_refuses_a_checkpoint_from_another_run(tmp_path):
    from gan_cli.train import _check_same_run

    run(tmp_path, [*TINY_RING, "trainer.steps=1", "trainer.checkpoint_every=0"])
    state = ckpt_io.safe_load(tmp_path / "checkpoints/final.pt")
    with pytest.raises(GanError, match=r"was trained with dataset=ring but .* says dataset=fashion_mnist"):
        _check_same_run(state, make_cfg([]), tmp_path / "checkpoints/final.pt")
    with pytest.raises(GanError, match=r"was trained with tricks=\[\] but .* says tricks=\['ema'\]"):
        _check_same_run(state, make_cfg([*TINY_RING, "tricks=[ema]"]), tmp_path / "checkpoints/final.pt")


def test_keep_last_k_checkpoints_and_last_is_the_newest(tmp_path):
    run(tmp_path, [*TINY_RING, "trainer.steps=10", "trainer.checkpoint_every=2", "trainer.keep_checkpoints=2"])
    folder = tmp_path / "checkpoints"
    assert sorted(p.name for p in folder.glob("*.pt")) == ["final.pt", "last.pt", "step_0000006.pt", "step_0000008.pt"]
    assert (folder / "last.pt").read_bytes() == (folder / "final.pt").read_bytes()
    shutil.rmtree(folder)


def test_resume_of_a_streamed_image_folder_is_bit_identical(tmp_path):
    """Files decoded by a DataLoader: starting its iterator must not draw from the training RNG."""
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    pixels = torch.Generator().manual_seed(0)
    for i in range(40):
        Image.fromarray(torch.randint(0, 256, (32, 32), generator=pixels, dtype=torch.uint8).numpy()).save(
            folder / f"{i:02d}.png")
    overrides = ["dataset=folder", f"dataset.root={folder}", "dataset.channels=1", "dataset.resolution=32",
                 "dataset.in_memory=false", "dataset.num_workers=0", "arch.width=4", "trainer.batch_size=8",
                 "trainer.steps=6", "trainer.checkpoint_every=3", "trainer.log_every=3", "trainer.sample_every=0",
                 "trainer.num_samples=4", "metrics=none", "trainer.progress=false", "device=cpu"]
    run(tmp_path / "whole", overrides)
    run(tmp_path / "resumed", overrides, resume_from=tmp_path / "whole/checkpoints/step_0000003.pt")
    assert state_differences(tmp_path / "whole/checkpoints/final.pt", tmp_path / "resumed/checkpoints/final.pt") == []
