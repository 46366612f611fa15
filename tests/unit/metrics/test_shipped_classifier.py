"""The Fashion-MNIST classifier shipped in gan_cli/assets: its manifest tells the truth, auto uses
it when the user has none of their own, its hash is in every score's provenance, a damaged file
is one line, and a default-style run ends with FID, IS and KID beside their real floors."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from omegaconf import OmegaConf

from gan_cli.config import MetricsConfig
from gan_cli.errors import GanError
from gan_cli.metrics.extractor import HASH_CHARS, file_sha256
from gan_cli.metrics.features import choose_extractor
from tests.conftest import make_cfg
from tests.unit.metrics.test_classifier import random_classifier_file

SHIPPED = "fashion_mnist_classifier"


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def manifest(assets) -> dict:
    return json.loads((assets / f"{SHIPPED}.json").read_text())


def test_manifest_describes_the_shipped_file(shipped_assets):
    facts = manifest(shipped_assets)
    path = shipped_assets / f"{SHIPPED}.pt"
    assert path.stat().st_size <= 1_000_000
    assert facts["sha256"] == file_sha256(path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert facts["weights_sha256"] == state["weights_sha256"] and facts["test_accuracy"] == state["test_accuracy"]
    assert facts["test_accuracy"] > 0.9 and facts["command"].startswith("gan classifier dataset=fashion_mnist")
    assert facts["torch"] and facts["weights_dtype"] == "float16"
    assert {"fid", "is", "kid"} <= set(facts["floor"])


def test_auto_uses_the_shipped_classifier_unless_the_user_trained_one(shipped_assets, own_cache):
    mcfg = OmegaConf.structured(MetricsConfig())
    shipped = choose_extractor(mcfg, "fashion_mnist", "cpu")
    assert shipped.provenance["classifier_source"] == "shipped"
    assert shipped.provenance["weights_sha256"] == manifest(shipped_assets)["weights_sha256"][:HASH_CHARS]
    assert shipped.floor["fid"] == manifest(shipped_assets)["floor"]["fid"]
    random_classifier_file(own_cache / "classifiers" / "fashion_mnist.pt")
    own = choose_extractor(mcfg, "fashion_mnist", "cpu")
    assert own.provenance["classifier_source"] == "cache" and own is not shipped


def test_a_damaged_shipped_file_is_one_line(shipped_assets, tmp_path, monkeypatch, own_cache):
    copy = tmp_path / "assets"
    shutil.copytree(shipped_assets, copy)
    data = bytearray((copy / f"{SHIPPED}.pt").read_bytes())
    data[-100] ^= 0xFF
    (copy / f"{SHIPPED}.pt").write_bytes(bytes(data))
    monkeypatch.setenv("GAN_ASSETS", str(copy))
    with pytest.raises(GanError, match="does not match the sha256 .* reinstall gan-cli") as error:
        choose_extractor(OmegaConf.structured(MetricsConfig()), "fashion_mnist", "cpu")
    assert "\n" not in str(error.value)


def tiny_run(idx_root, *extra: str) -> list[str]:
    return [f"dataset.root={idx_root}", "dataset.download=false", "dataset.conditional=true", "arch.width=8",
            "trainer.steps=2", "trainer.batch_size=8", "trainer.sample_every=0", "trainer.checkpoint_every=0",
            "trainer.log_every=1", "trainer.progress=false", "trainer.num_samples=10", "device=cpu", *extra]


def test_a_damaged_cached_classifier_is_one_line_and_the_run_still_finishes(idx_root, tmp_path, own_cache):
    from gan_cli.trainer import Trainer

    damaged = own_cache / "classifiers" / "fashion_mnist.pt"
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(b"\x00 not a classifier")
    summary = Trainer(make_cfg(tiny_run(idx_root, "metrics.num_samples=20")), tmp_path / "run").fit()
    assert summary["status"] == "finished" and (tmp_path / "run" / "checkpoints" / "final.pt").is_file()
    message = summary["metrics_skipped"]
    assert str(damaged) in message and "gan classifier" in message and "\n" not in message


def test_a_run_ends_with_fid_is_kid_beside_their_floors(idx_root, tmp_path, shipped_assets, own_cache):
    """The default metrics with the shipped classifier (few samples: the tiny data set has 96 images)."""
    from gan_cli.trainer import Trainer

    overrides = tiny_run(idx_root, "metrics.num_samples=40", "metrics.kid_subset_size=20", "metrics.kid_subsets=5",
                         "metrics.is_splits=2")
    summary = Trainer(make_cfg(overrides), tmp_path / "run").fit()
    floor = manifest(shipped_assets)["floor"]
    assert list(summary)[list(summary).index("fid"):][:6] == ["fid", "fid_floor", "is", "is_floor", "is_std", "kid"]
    assert (summary["fid_floor"], summary["is_floor"], summary["kid_floor"]) == (floor["fid"], floor["is"], floor["kid"])
    assert summary["fid"] > summary["fid_floor"]  # two steps of training are far from the data
    assert summary["provenance"]["classifier_source"] == "shipped"
    saved = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert {"fid", "fid_floor", "is", "is_floor", "kid", "kid_floor"} <= set(saved)
