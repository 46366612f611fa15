"""The GPU path: bf16 autocast, channels_last, fused Adam, no host-device sync inside a step, NCCL.

Marked `gpu` (deselected by default; `python -m pytest -m gpu` on a CUDA machine). None of these
has run yet: the machines the project was built on have no GPU.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from tests.conftest import make_cfg
from tests.integration.test_distributed import _env, _max_gap, _weights

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def _trainer(tmp_path, idx_root, *overrides):
    from gan_cli.trainer import Trainer

    cfg = make_cfg(["dataset=fashion_mnist", "dataset.download=false", f"dataset.root={idx_root}", "arch=dcgan",
                    "arch.width=16", "metrics=none", "trainer.batch_size=32", "device=cuda", *overrides])
    return Trainer(cfg, tmp_path / "run")


def test_gpu_defaults_bf16_channels_last_and_fused_adam(tmp_path, idx_root):
    trainer = _trainer(tmp_path, idx_root)
    if torch.cuda.get_device_properties(0).major >= 8:
        assert trainer.amp_dtype == torch.bfloat16 and not trainer.scaler_g.is_enabled()
    else:  # no native bf16: fp16 with loss scaling
        assert trainer.amp_dtype == torch.float16 and trainer.scaler_g.is_enabled()
    assert trainer.channels_last
    conv = next(m for m in trainer.D.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert trainer.opt_g.defaults["fused"] and trainer.opt_d.defaults["fused"]


@pytest.mark.parametrize("amp", ["auto", "fp16"])
def test_a_training_step_never_waits_for_the_gpu(tmp_path, idx_root, amp):
    """Every synchronising call (`.item()`, `if tensor`, nonzero, a blocking copy) raises in sync
    debug mode "error": the step must queue its work and return."""
    trainer = _trainer(tmp_path, idx_root, f"trainer.amp={amp}", "tricks=[ema]")
    for _ in range(3):  # warm-up: cuDNN autotuning and lazy initialisation may synchronise once
        trainer.train_step(measure=True)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for step in range(4):
            trainer.train_step(measure=step == 3)  # the logging step too: norms stay on the device
    finally:
        torch.cuda.set_sync_debug_mode("default")
    torch.cuda.synchronize()
    assert all(torch.isfinite(v).all() for v in trainer.run_log.sums.values())


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 GPUs")
def test_two_gpu_torchrun_with_nccl_trains_like_one_gpu(tmp_path, idx_root):
    """NCCL path. TF32 matmuls (on by default on GPUs) round at ~1e-3, so the tolerance here is
    looser than the CPU test's; amp is off so that bf16 rounding does not dominate."""
    args = ["dataset=fashion_mnist", "dataset.download=false", f"dataset.root={idx_root}", "arch=mlp",
            "arch.activation=tanh", "arch.g_norm=none", "arch.d_norm=none", "metrics=none", "trainer.amp=off",
            "trainer.batch_size=32", "trainer.steps=8", "trainer.progress=false", "device=cuda"]
    one = subprocess.run([sys.executable, "-m", "gan_cli.cli", "train", *args, "hydra.run.dir=one"], cwd=tmp_path,
                         env=_env(), capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m",
                          "gan_cli.cli", "train", *args, "hydra.run.dir=two"], cwd=tmp_path, env=_env(),
                         capture_output=True, text=True, timeout=600)
    assert two.returncode == 0, two.stderr[-3000:]
    summary = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["device"] == "cuda:0"
    assert _max_gap(_weights(tmp_path / "two"), _weights(tmp_path / "one")) < 1e-3
