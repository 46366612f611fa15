"""run_config: the one reader of a run's saved config, and how it brings older configs up to date."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from gan_cli.run_config import run_config, save_resumed_config, saved_config_path


def old_checkpoint(arch: dict, tricks: dict | None = None) -> dict:
    # as versions with arch.d_spectral_norm and arch.extra saved them
    return {"config": {"arch": {"name": "resnet", "extra": {}, **arch}, "tricks": {"ema": None, **(tricks or {})}}}


@pytest.mark.parametrize("arch, tricks, expected", [
    ({"variant": "sngan", "d_spectral_norm": None}, None, {"networks": "d", "power_iterations": 1}),
    ({"variant": None, "d_spectral_norm": None}, None, {"networks": "d", "power_iterations": 1}),
    ({"variant": "sngan", "d_spectral_norm": True}, None, {"networks": "d", "power_iterations": 1}),
    ({"variant": "wgan_gp", "d_spectral_norm": True}, None, {"networks": "d", "power_iterations": 1}),
    ({"variant": "wgan_gp", "d_spectral_norm": None}, None, None),
    ({"variant": "sngan", "d_spectral_norm": False}, None, None),
    # the trick normalised G and the switch D: both now
    ({"variant": "sngan", "d_spectral_norm": True}, {"spectral_norm": {"networks": "g", "power_iterations": 2}},
     {"networks": "both", "power_iterations": 2}),
    # the trick on D, the switch off (wgan_gp's critic): unchanged
    ({"variant": "wgan_gp", "d_spectral_norm": False}, {"spectral_norm": {"networks": "d", "power_iterations": 1}},
     {"networks": "d", "power_iterations": 1}),
])
def test_old_spectral_norm_switch_becomes_the_trick(arch, tricks, expected):
    cfg = run_config(old_checkpoint(arch, tricks))
    assert "d_spectral_norm" not in cfg.arch and "extra" not in cfg.arch
    got = cfg.tricks.get("spectral_norm")
    assert (OmegaConf.to_container(got) if got is not None else None) == expected


def test_the_switch_meant_nothing_on_other_archs():
    cfg = run_config({"config": {"arch": {"name": "dcgan", "d_spectral_norm": True}, "tricks": {}}})
    assert "d_spectral_norm" not in cfg.arch and cfg.tricks.get("spectral_norm") is None


def test_a_run_folder_reads_its_saved_config_and_a_resume_rewrites_it(tmp_path):
    saved_config_path(tmp_path).parent.mkdir()
    saved_config_path(tmp_path).write_text("seed: 3\ntrainer:\n  steps: 10\n")
    (tmp_path / ".hydra" / "overrides.yaml").write_text("- seed=3\n- trainer.steps=10\n")
    assert run_config(tmp_path).seed == 3
    save_resumed_config(tmp_path, "seed: 3\ntrainer:\n  steps: 20\n", ["trainer.steps=20"])
    assert run_config(tmp_path).trainer.steps == 20
    assert list(OmegaConf.load(tmp_path / ".hydra" / "overrides.yaml")) == ["seed=3", "trainer.steps=20"]


def test_a_resume_of_a_run_trained_in_process_writes_its_first_saved_config(tmp_path):
    """A run made by Trainer(cfg, run_dir) (the benchmarks' cells) has no .hydra/ folder; resuming
    it (run_sweep_job on a stopped cell) records the config there instead of failing."""
    assert not (tmp_path / ".hydra").exists()
    save_resumed_config(tmp_path, "seed: 3\ntrainer:\n  steps: 20\n", [])
    assert run_config(tmp_path).trainer.steps == 20
    assert list(OmegaConf.load(tmp_path / ".hydra" / "overrides.yaml")) == []
