"""`gan eval` and `gan sample` on checkpoints of the 2-D mixtures (mlp) and images (dcgan, mlp),
scores written during training, and mode counts checked against an independent count."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from gan_cli.config import EvalConfig, MetricsConfig, SampleConfig
from gan_cli.errors import GanError
from tests.conftest import make_cfg, run_gan
from tests.helpers import (
    run_cli,
)

# Small scoring settings shared by training and `gan eval` (the same numbers must come out).
METRICS = {"num_samples": 40, "batch_size": 16, "real_num_samples": 100, "names": ["fid", "is"]}

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks: threads cost more than they save


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A private cache holding a (random, seeded) Fashion-MNIST classifier; no Inception weights."""
    from gan_cli.metrics.classifier import DomainClassifier, classifier_state

    root = tmp_path_factory.mktemp("gan_env")
    torch.manual_seed(0)
    net = DomainClassifier(1, 28, 10, width=8, feature_dim=32)
    (root / "cache" / "classifiers").mkdir(parents=True)
    torch.save(classifier_state(net, "fashion_mnist", test_accuracy=0.1, floor={}),
               root / "cache" / "classifiers" / "fashion_mnist.pt")
    return {"GAN_CACHE": str(root / "cache"), "TORCH_HOME": str(root / "torch"), "root": root}


@pytest.fixture(autouse=True)
def same_env_in_process(env, monkeypatch):
    monkeypatch.setenv("GAN_CACHE", env["GAN_CACHE"])
    monkeypatch.setenv("TORCH_HOME", env["TORCH_HOME"])


def gan(env, *args: str) -> None:
    """`gan ARGS` in this process (Hydra and all), with the private cache, on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("GAN_CACHE", env["GAN_CACHE"])
            mp.setenv("TORCH_HOME", env["TORCH_HOME"])
            assert run_cli(list(args)) == 0, f"gan {' '.join(args)} failed"
    finally:
        torch.set_num_threads(threads)


def fashion_mnist_or_skip():
    from gan_cli.config import DatasetConfig
    from gan_cli.data import build_dataset

    try:
        build_dataset(OmegaConf.structured(DatasetConfig(name="fashion_mnist", download=False, limit=10)))
    except GanError:
        pytest.skip("Fashion-MNIST is not installed here")


@pytest.fixture(scope="module")
def ring_run(env):
    run = env["root"] / "ring"
    gan(env, "train", "experiment=ring", "trainer=debug", "trainer.steps=30", "trainer.progress=false",
        f"hydra.run.dir={run}")
    return run


@pytest.fixture(scope="module")
def image_run(env):
    """Conditional DCGAN with EMA, scored every 2 steps with the stored classifier (features=auto)."""
    fashion_mnist_or_skip()
    run = env["root"] / "fm"
    gan(env, "train", "dataset.limit=256", "dataset.conditional=true", "arch.width=8", "tricks=[ema]", "trainer=debug",
        "trainer.steps=4", "trainer.checkpoint_every=2", "trainer.eval_every=2", "trainer.sample_every=0",
        "trainer.progress=false", *[f"metrics.{k}={v}" for k, v in METRICS.items()], f"hydra.run.dir={run}")
    return run


def metrics_cfg(**overrides) -> MetricsConfig:
    return MetricsConfig(**{**METRICS, **overrides})


# ----------------------------------------------------------------------------- 2-D mixtures
def independent_mode_count(points: np.ndarray, radius: float = 1.0, k: int = 8, std: float = 0.01):
    """The PacGAN protocol written out again: the ring's means, nearest mode, 3-std quality."""
    angles = 2 * np.pi * np.arange(k) / k
    means = radius * np.stack([np.cos(angles), np.sin(angles)], 1)
    dist = np.sqrt(((points[:, None, :] - means[None]) ** 2).sum(-1))
    nearest, good = dist.argmin(1), dist.min(1) <= 3 * std
    return len(set(nearest[good].tolist())), good.mean()


def test_toy_sample_and_eval_agree_with_an_independent_count(env, ring_run, tmp_path):
    from gan_cli.evaluate import run_eval

    final = ring_run / "checkpoints" / "final.pt"
    gan(env, "sample", f"checkpoint={final}", "n=2500", f"out={tmp_path / 'points.npz'}")
    points = np.load(tmp_path / "points.npz")["points"]
    assert points.shape == (2500, 2) and points.dtype == np.float32
    modes, hq = independent_mode_count(points.astype(np.float64))
    scores = run_eval(OmegaConf.structured(EvalConfig(checkpoint=str(final), out=str(tmp_path / "s.json"), device="cpu")))
    assert scores["modes"] == modes and scores["hq_fraction"] == pytest.approx(hq, abs=1e-12)
    assert json.loads((tmp_path / "s.json").read_text())["modes"] == modes
    # the end-of-training score was computed on the same samples
    summary = json.loads((ring_run / "summary.json").read_text())
    assert summary["modes"] == modes and summary["hq_fraction"] == pytest.approx(hq, abs=1e-12)
    from_file = run_eval(OmegaConf.structured(EvalConfig(fake=str(tmp_path / "points.npz"), real="ring", device="cpu")))
    assert from_file["modes"] == modes and from_file["num_samples"] == 2500


def test_class_needs_a_conditional_checkpoint(ring_run, tmp_path):
    from gan_cli.sample import run_sample

    with pytest.raises(GanError, match="class=3 but this model is unconditional"):
        run_sample(OmegaConf.structured(SampleConfig(checkpoint=str(ring_run / "checkpoints" / "final.pt"), label=3,
                                                     out=str(tmp_path / "p.npz"), device="cpu")))


def test_eval_needs_one_thing_to_score(tmp_path):
    result = run_gan("eval", cwd=tmp_path)
    assert result.returncode == 2 and "pass exactly one of checkpoint=PATH, run=DIR or fake=PATH" in result.stderr
    assert "Traceback" not in result.stderr


# ----------------------------------------------------------------------------- images
def test_training_scores_with_the_classifier(image_run):
    rows = [json.loads(line) for line in (image_run / "scores.jsonl").read_text().splitlines()]
    assert [(r["step"], r["final"]) for r in rows] == [(2, False), (4, True)]
    for row in rows:
        assert row["fid"] > 0 and 1 <= row["is"] <= 10 and 0 <= row["class_coverage"] <= 1
        assert 0 <= row["class_accuracy"] <= 1  # conditional: requested class vs predicted
        prov = row["provenance"]
        assert prov["features"] == "classifier" and prov["num_samples"] == 40 and prov["real_num_samples"] == 100
        assert len(prov["weights_sha256"]) == 16 and prov["real"] == "fashion_mnist train (100 images)"
        assert prov["real_split"] == "train"
    summary = json.loads((image_run / "summary.json").read_text())
    assert summary["fid"] == rows[-1]["fid"]


def test_eval_run_gives_a_curve_ending_at_the_training_score(image_run, tmp_path):
    from gan_cli.evaluate import run_eval

    cfg = OmegaConf.structured(EvalConfig(run=str(image_run), out=str(tmp_path / "curve.json"), device="cpu",
                                          metrics=metrics_cfg()))
    result = run_eval(cfg)
    assert [row["step"] for row in result["checkpoints"]] == [2, 4]
    assert all(row["generator"] == "ema" for row in result["checkpoints"])
    trained = [json.loads(line) for line in (image_run / "scores.jsonl").read_text().splitlines()]
    for row, during in zip(result["checkpoints"], trained):
        assert row["fid"] == pytest.approx(during["fid"], rel=1e-9)  # same samples, generator, reference
        assert row["is"] == pytest.approx(during["is"], rel=1e-9)
    assert json.loads((tmp_path / "curve.json").read_text())["checkpoints"][1]["step"] == 4


def test_sample_pngs_of_one_class(env, image_run, tmp_path):
    from PIL import Image

    gan(env, "sample", f"checkpoint={image_run / 'checkpoints' / 'final.pt'}", "n=5", "class=3", f"out={tmp_path / 'png'}")
    files = sorted((tmp_path / "png").glob("*.png"))
    assert [f.name for f in files] == [f"{i:06d}_class3.png" for i in range(5)]
    with Image.open(files[0]) as img:
        assert img.size == (28, 28) and img.mode == "L"


def test_sample_npz_and_score_it_as_a_sample_set(image_run, tmp_path):
    from gan_cli.evaluate import run_eval
    from gan_cli.sample import run_sample

    final = str(image_run / "checkpoints" / "final.pt")
    run_sample(OmegaConf.structured(SampleConfig(checkpoint=final, n=40, out=str(tmp_path / "s.npz"), device="cpu")))
    run_sample(OmegaConf.structured(SampleConfig(checkpoint=final, n=8, out=str(tmp_path / "first.npz"), device="cpu")))
    with np.load(tmp_path / "s.npz") as f, np.load(tmp_path / "first.npz") as first:
        images, labels = f["images"], f["labels"]
        assert images.shape == (40, 28, 28, 1) and images.dtype == np.uint8
        assert labels.tolist() == [i % 10 for i in range(40)]
        assert np.array_equal(first["images"], images[:8])  # n=8 gives the first 8 of n=40
    result = run_eval(OmegaConf.structured(EvalConfig(
        fake=str(tmp_path / "s.npz"), real="fashion_mnist", device="cpu",
        metrics=metrics_cfg(names=["fid", "is", "kid", "pr", "dc"], kid_subset_size=20, kid_subsets=5))))
    for key in ("fid", "is", "kid", "precision", "recall", "density", "coverage", "class_coverage"):
        assert np.isfinite(result[key]), key
    assert result["provenance"]["real_features"] == 40  # as many real feature rows as generated


def test_eval_and_sample_an_mlp_image_checkpoint(tmp_path):
    """arch=mlp on images, built in-process (no run folder needed beyond the checkpoint)."""
    from gan_cli.evaluate import eval_checkpoint
    from gan_cli.sample import run_sample
    from gan_cli.trainer import Trainer

    fashion_mnist_or_skip()
    cfg = make_cfg(["arch=mlp", "arch.z_dim=16", "arch.g_hidden=[32]", "arch.d_hidden=[32]", "dataset.limit=128",
                    "trainer=debug", "trainer.steps=2", "trainer.progress=false", "trainer.sample_every=0", "metrics=none"])
    Trainer(cfg, tmp_path / "run").fit()
    final = tmp_path / "run" / "checkpoints" / "final.pt"
    run_sample(OmegaConf.structured(SampleConfig(checkpoint=str(final), n=3, out=str(tmp_path / "m.npz"), device="cpu")))
    assert np.load(tmp_path / "m.npz")["images"].shape == (3, 28, 28, 1)
    cfg = OmegaConf.structured(EvalConfig(checkpoint=str(final), device="cpu", metrics=metrics_cfg(names=["is"])))
    result = eval_checkpoint(final, cfg, torch.device("cpu"))
    assert result["step"] == 2 and 1 <= result["is"] <= 10 and "fid" not in result


def test_eval_errors_are_one_line_with_the_fix(tmp_path):
    from gan_cli.evaluate import run_eval

    with pytest.raises(GanError, match="does not exist"):
        run_eval(OmegaConf.structured(EvalConfig(checkpoint=str(tmp_path / "nope.pt"), device="cpu")))
    np.savez(tmp_path / "f.npz", images=np.zeros((4, 8, 8, 3), np.uint8))
    with pytest.raises(GanError, match="Inception metrics skipped"):  # RGB -> Inception, no weights here
        run_eval(OmegaConf.structured(EvalConfig(fake=str(tmp_path / "f.npz"), real=str(tmp_path / "f.npz"),
                                                 device="cpu", metrics=MetricsConfig(download=False))))
    np.savez(tmp_path / "bad.npz", images=np.zeros((4, 8, 8, 3), np.float32))
    with pytest.raises(GanError, match="expected uint8 images"):
        run_eval(OmegaConf.structured(EvalConfig(fake=str(tmp_path / "bad.npz"), real="fashion_mnist", device="cpu",
                                                 metrics=MetricsConfig(features="classifier"))))


@pytest.mark.parametrize("override, message", [
    ("metrics.names=[fid,fdi]", "metrics.names: unknown metric 'fdi': choose from fid, is, kid, pr, dc"),
    ("metrics.features=vgg", "metrics.features=vgg: choose one of auto, inception, classifier, none"),
    ("metrics.names=[kid]", "metrics.num_samples=500 is fewer than metrics.kid_subset_size=1000"),
])
def test_metric_settings_are_checked_before_any_work(override, message, tmp_path, capsys):
    code = run_cli(["train", "dataset=ring", "arch=mlp", "metrics.num_samples=500", override,
                    f"hydra.run.dir={tmp_path / 'run'}"])
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
