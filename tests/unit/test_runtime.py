"""gan_cli/runtime.py: `trainer.amp=auto` on the CPU (bf16 autocast for conv nets only where the
CPU computes bf16 natively, float32 otherwise; explicit choices kept), and the share of the time
budget spent."""

from __future__ import annotations

import json

import pytest
import torch

from gan_cli import runtime
from gan_cli.errors import GanError
from gan_cli.runtime import autocast_dtype, budget_spent

CPU = torch.device("cpu")


@pytest.mark.parametrize("native", [False, True])
def test_auto_picks_bf16_for_conv_nets_on_cpus_with_native_bf16_only(monkeypatch, native):
    monkeypatch.setattr(runtime, "native_cpu_bf16", lambda: native)
    assert autocast_dtype("auto", CPU, conv_net=True) == (torch.bfloat16 if native else None)
    assert autocast_dtype("auto", CPU, conv_net=False) is None  # MLPs on 2-D points keep float32
    assert autocast_dtype("off", CPU, conv_net=True) is None
    assert autocast_dtype("bf16", CPU, conv_net=False) == torch.bfloat16
    with pytest.raises(GanError, match="trainer.amp=fp16 needs a CUDA GPU"):
        autocast_dtype("fp16", CPU)


@pytest.mark.parametrize("native", [False, True])
def test_the_trainer_trains_and_records_the_precision_auto_chose(monkeypatch, tmp_path, idx_root, native):
    from gan_cli.trainer import Trainer
    from tests.conftest import make_cfg

    monkeypatch.setattr(runtime, "native_cpu_bf16", lambda: native)
    cfg = make_cfg(["dataset=fashion_mnist", "dataset.download=false", f"dataset.root={idx_root}", "arch=dcgan",
                    "arch.width=8", "metrics=none", "trainer.batch_size=16", "trainer.steps=2", "device=cpu",
                    "trainer.progress=false"])
    trainer = Trainer(cfg, tmp_path)
    precision = "bfloat16 autocast" if native else "float32"
    assert trainer.precision == precision and trainer.run_log.identity["precision"] == precision
    assert trainer.fit()["status"] == "finished"
    assert json.loads((tmp_path / "summary.json").read_text())["precision"] == precision


def test_budget_spent_is_the_share_of_max_minutes_in_thousandths():
    assert budget_spent(30.0, 1.0) == 0.5
    assert budget_spent(59.99, 1.0) == 0.999  # rounded down: the budget is spent at 60 s, not before
    assert budget_spent(61.0, 1.0) >= 1
    assert budget_spent(1e6, None) == 0.0  # no budget
    assert budget_spent(0.1, 0) == 1.0 and budget_spent(0.0, 0) == 0.0  # max_minutes=0: spent at once
