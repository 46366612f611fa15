"""arch=progan: equalised layers, pixel norm, the growing schedule, fade-ins of G, D and the reals,
training through two resolutions, and exact resume in the middle of a fade-in."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from gan_cli.checkpoint import safe_load, state_differences
from gan_cli.errors import GanError
from gan_cli.generation import load_generator
from gan_cli.models.growth import GrowthSchedule
from gan_cli.models.progan import (
    EqualizedConv2d,
    EqualizedLinear,
    PixelNorm,
    ProGANGenerator,
    channels_at,
    progan_discriminator,
)
from gan_cli.trainer import Trainer
from tests.helpers import (
    make_cfg,
    run_cli,
    sample_class,
    write_png_folder,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def grow_cfg(stable, fade, start=4):
    return SimpleNamespace(start_resolution=start, stable_images=stable, fade_images=fade)


def test_equalised_layers_scale_n01_weights_by_he_constant():
    conv = EqualizedConv2d(2, 3, 3)  # fan_in 2*3*3 = 18: scale sqrt(2)/sqrt(18) = 1/3
    assert conv.scale == pytest.approx(1 / 3)
    x = torch.randn(1, 2, 5, 5)
    assert torch.allclose(conv(x), F.conv2d(x, conv.weight / 3, conv.bias, padding=1), atol=1e-6)
    fc = EqualizedLinear(8, 2, gain=1.0)
    assert fc.scale == pytest.approx(1 / math.sqrt(8))
    torch.manual_seed(0)
    assert EqualizedConv2d(64, 64, 3).weight.std().item() == pytest.approx(1.0, abs=0.02)  # N(0, 1) at rest


def test_pixel_norm_by_hand():
    x = torch.tensor([3.0, 4.0]).view(1, 2, 1, 1)  # mean of squares 12.5
    assert torch.allclose(PixelNorm()(x).flatten(), torch.tensor([3.0, 4.0]) / math.sqrt(12.5))


def test_channels_follow_the_paper():
    # 512 channels at 4..32 pixels, then halved: 256 at 64, ..., 16 at 1024 (Karras et al. Table 2)
    assert [channels_at(level, 512) for level in range(9)] == [512, 512, 512, 512, 256, 128, 64, 32, 16]


def test_schedule_timeline():
    s = GrowthSchedule(grow_cfg(10, 4), 16, [])  # levels 0 (4x4), 1 (8x8), 2 (16x16)
    expected = {0: (0, 1.0), 9: (0, 1.0), 10: (1, 0.0), 11: (1, 0.25), 13: (1, 0.75), 14: (1, 1.0),
                23: (1, 1.0), 24: (2, 0.0), 26: (2, 0.5), 28: (2, 1.0), 10**9: (2, 1.0)}
    assert {n: s.phase(n) for n in expected} == expected
    later = GrowthSchedule(grow_cfg(10, 4, start=8), 16, [])
    assert later.phase(0) == (1, 1.0) and later.phase(12) == (2, 0.5) and later.phase(100) == (2, 1.0)
    assert GrowthSchedule(grow_cfg(0, 0), 16, []).phase(0) == (2, 1.0)
    with pytest.raises(GanError, match="power of two"):
        GrowthSchedule(grow_cfg(1, 1, start=6), 16, [])
    with pytest.raises(GanError, match="above"):
        GrowthSchedule(grow_cfg(1, 1, start=32), 16, [])


def test_real_images_are_downsampled_and_crossfaded_by_hand():
    s = GrowthSchedule(grow_cfg(0, 4), 8, [])  # fade straight into 8x8 from the start
    real = torch.tensor([[0.0, 4.0], [8.0, 12.0]]).repeat(4, 4).view(1, 1, 8, 8)  # 2x2 blocks, mean 6
    s.level, s.alpha = 1, 0.25
    out = s.transform_real(real)  # 6 + 0.25 (x - 6)
    assert out[0, 0, :2, :2].tolist() == [[4.5, 5.5], [6.5, 7.5]]
    s.level, s.alpha = 0, 1.0
    assert torch.equal(s.transform_real(real), torch.full((1, 1, 4, 4), 6.0))


def test_fade_in_is_continuous_for_g_and_d():
    torch.manual_seed(0)
    G, D = ProGANGenerator(8, 3, 16, 4), progan_discriminator(3, 16, 4)
    parts = [G, D.body]
    z, x = torch.randn(4, 8), torch.randn(4, 3, 8, 8)

    def at(level, alpha):
        for p in parts:
            p.set_phase(level, alpha)

    at(0, 1.0)
    g_low, d_low = G(z), D(F.avg_pool2d(x, 2))
    at(1, 0.0)  # alpha 0: the new level is invisible
    assert torch.allclose(G(z), F.interpolate(g_low, scale_factor=2, mode="nearest"), atol=1e-6)
    assert torch.allclose(D(x), d_low, atol=1e-5)
    at(1, 1.0)
    g_new, d_new = G(z), D(x)
    at(1, 0.3)
    old = F.interpolate(g_low, scale_factor=2, mode="nearest")
    assert torch.allclose(G(z), old + 0.3 * (g_new - old), atol=1e-5)
    assert not torch.allclose(D(x), d_low) and not torch.allclose(D(x), d_new)
    G.eval()  # samples and scores come at the final resolution
    assert G(z).shape == (4, 3, 16, 16)


def test_optimizer_covers_every_level_from_the_start(tmp_path):
    folder = write_png_folder(tmp_path / "images", 4, [(16, 16)])
    cfg = make_cfg(progan_overrides(folder, 16, steps=1))
    trainer = Trainer(cfg, tmp_path / "run")
    assert sum(len(g["params"]) for g in trainer.opt_g.param_groups) == len(list(trainer.G.parameters()))
    assert sum(len(g["params"]) for g in trainer.opt_d.param_groups) == len(list(trainer.D.parameters()))


def progan_overrides(folder, resolution, steps, stable=8, fade=8, run_dir=None):
    overrides = [
        "dataset=folder", f"dataset.root={folder}", f"dataset.resolution={resolution}", "arch=progan",
        "arch.width=4", "arch.z_dim=8", f"arch.grow.stable_images={stable}", f"arch.grow.fade_images={fade}",
        f"trainer.steps={steps}", "trainer.batch_size=4", "trainer.log_every=1", "trainer.num_samples=4",
        "trainer.sample_every=0", "trainer.checkpoint_every=0", "metrics=none", "trainer.progress=false",
        "device=cpu", "optim=progan", "tricks=[ema]",
    ]
    return overrides + ([f"hydra.run.dir={run_dir}"] if run_dir else [])


@pytest.mark.parametrize("resolution", [32, 64])
def test_progan_grows_through_two_resolutions_on_a_folder(tmp_path, resolution):
    folder = write_png_folder(tmp_path / "images", 8, [(resolution, resolution), (resolution, resolution + 10)])
    cfg = make_cfg(progan_overrides(folder, resolution, steps=6))  # 8 images at 4x4, fade to 8x8 over 8, then 8x8
    assert Trainer(cfg, tmp_path / "run").fit()["status"] == "finished"
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    phases = [(r["grow/resolution"], r["grow/alpha"]) for r in rows]
    assert phases == [(4, 1.0), (4, 1.0), (8, 0.0), (8, 0.5), (8, 1.0), (8, 1.0)]
    assert rows[-1]["grow/images"] == 24
    from PIL import Image

    assert Image.open(tmp_path / "run" / "samples" / "final.png").size == (2 * resolution + 6,) * 2


def test_progan_resumes_mid_fade_bit_identically(tmp_path):
    folder = write_png_folder(tmp_path / "images", 12, [(16, 16)])
    straight, split = tmp_path / "straight", tmp_path / "split"
    # 4 images at 4x4; 8x8 fades in over images 4..16, is stable until 20; 16x16 fades in from 20
    assert run_cli(["train", *progan_overrides(folder, 16, steps=7, stable=4, fade=12, run_dir=straight)]) == 0
    # stop after 3 steps (the third batch saw alpha 4/12 of the 8x8 fade-in), then resume to 7
    assert run_cli(["train", *progan_overrides(folder, 16, steps=3, stable=4, fade=12, run_dir=split)]) == 0
    mid = safe_load(split / "checkpoints" / "last.pt")
    assert mid["schedule"] == {"images": 12} and mid["G"]["_extra_state"] == {"level": 1, "fading": True}
    assert run_cli(["train", f"resume={split}", "trainer.steps=7"]) == 0

    a, b = safe_load(straight / "checkpoints" / "final.pt"), safe_load(split / "checkpoints" / "final.pt")
    keys = ["G", "D", "opt_g", "opt_d", "tricks", "data", "schedule", "step"]
    assert state_differences({k: a[k] for k in keys}, {k: b[k] for k in keys}) == []
    assert a["G"]["_extra_state"] == {"level": 2, "fading": True}  # into the 16x16 fade-in by step 7
    # a generator loaded for sampling keeps its phase and draws at the dataset's resolution
    G, _, _ = load_generator(b)
    assert (G.level, G.fading) == (2, True) and sample_class(G, 2, 0)[0].shape == (2, 3, 16, 16)
    rows_a = (straight / "metrics.jsonl").read_text().splitlines()
    rows_b = (split / "metrics.jsonl").read_text().splitlines()
    strip = lambda row: {k: v for k, v in json.loads(row).items() if k not in ("images_per_s", "time_s")}  # noqa: E731
    assert [strip(r) for r in rows_a] == [strip(r) for r in rows_b]


@pytest.mark.slow
def test_progan_under_two_process_torchrun(tmp_path):
    """DDP must accept the unused blocks of other resolutions, and the schedule must count the
    global batch. (The weights differ from one process by more than rounding: minibatch stddev
    groups samples within each rank's half batch, a batch-coupled layer like batch norm.)"""
    import os
    import subprocess
    import sys

    folder = write_png_folder(tmp_path / "images", 16, [(16, 16)])
    args = progan_overrides(folder, 16, steps=6, stable=8, fade=16)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3]), "OMP_NUM_THREADS": "1"}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "HYDRA_FULL_ERROR"):
        env.pop(key, None)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    for run, prefix in ((tmp_path / "single", [sys.executable]), (tmp_path / "dist", launcher)):
        done = subprocess.run([*prefix, "-m", "gan_cli.cli", "train", *args, f"hydra.run.dir={run}"], env=env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    single, dist = (safe_load(tmp_path / r / "checkpoints" / "final.pt") for r in ("single", "dist"))
    assert single["schedule"] == dist["schedule"] == {"images": 24}
    assert dist["G"]["_extra_state"] == {"level": 1, "fading": True}
    # blocks never used (16x16) got no gradient on either side: no optimizer state, weights as built
    assert single["opt_g"]["state"].keys() == dist["opt_g"]["state"].keys()
    assert torch.equal(single["G"]["to_rgb.2.weight"], dist["G"]["to_rgb.2.weight"])
