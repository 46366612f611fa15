"""The domain classifier: deterministic training that learns, a weights_only file with the real
floor, the extractor's input handling, class coverage, and `metrics.features=auto`."""

from __future__ import annotations

import math

import pytest
import torch
from omegaconf import OmegaConf

from gan_cli.config import ClassifierConfig, DatasetConfig, MetricsConfig
from gan_cli.errors import GanError
from gan_cli.metrics.classifier import (
    ClassifierExtractor,
    DomainClassifier,
    classifier_state,
    load_classifier,
)
from gan_cli.metrics.features import MetricsSkipped, choose_extractor
from gan_cli.metrics.predicted_classes import class_metrics

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks: threads cost more than they save


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))


def fashion_mnist_or_skip():
    from gan_cli.data import build_dataset

    try:
        build_dataset(OmegaConf.structured(DatasetConfig(name="fashion_mnist", download=False, limit=10)))
    except GanError:
        pytest.skip("Fashion-MNIST is not installed here")


def test_training_is_deterministic_learns_and_stores_the_floor(tmp_path):
    from gan_cli.train_classifier import run_classifier

    fashion_mnist_or_skip()
    cfg = OmegaConf.structured(ClassifierConfig(
        dataset=DatasetConfig(name="fashion_mnist", limit=600, download=False), epochs=1, batch_size=50,
        device="cpu", out=str(tmp_path / "a.pt")))
    first = run_classifier(cfg)
    cfg.out = str(tmp_path / "b.pt")
    second = run_classifier(cfg)
    assert first["test_accuracy"] == second["test_accuracy"] > 0.4  # after 12 steps; chance is 0.1
    a, b = torch.load(tmp_path / "a.pt", weights_only=True), torch.load(tmp_path / "b.pt", weights_only=True)
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    assert a["weights_sha256"] == b["weights_sha256"]
    floor = a["floor"]
    assert floor["fid"] > 0 and 1 < floor["is"] <= 10 and 0.5 < floor["class_coverage"] <= 1
    assert floor["num_samples"] == 600 and "test (600 images) vs train (600 images)" in floor["description"]
    # the train statistics were cached as the reference later evaluations use
    assert list((tmp_path / "cache" / "stats").glob("fashion_mnist-train-limit600-classifier-*-nall.npz"))
    assert (tmp_path / "cache" / "classifiers" / "fashion_mnist.pt").is_file()


def random_classifier_file(path, channels: int = 1, resolution: int = 28) -> None:
    torch.manual_seed(0)
    net = DomainClassifier(channels, resolution, 10, width=8, feature_dim=16)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(classifier_state(net, "fashion_mnist", test_accuracy=0.1, floor={"fid": 1.0, "is": 9.0}), path)


def test_extractor_takes_rgb_and_other_sizes(tmp_path):
    random_classifier_file(tmp_path / "c.pt")
    extractor = ClassifierExtractor.from_file(tmp_path / "c.pt")
    grey = torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8)
    features, logits = extractor(grey)
    assert features.shape == (3, 16) and logits.shape == (3, 10)
    rgb = grey.expand(-1, 3, -1, -1)  # grey in RGB: the same after conversion
    assert torch.allclose(extractor(rgb)[0], features, atol=1e-6)
    assert extractor(torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8))[0].shape == (2, 16)
    assert extractor.provenance["weights_sha256"] == torch.load(tmp_path / "c.pt", weights_only=True)["weights_sha256"]
    assert extractor.floor == {"fid": 1.0, "is": 9.0}


def test_not_a_classifier_file_is_a_clear_error(tmp_path):
    torch.save({"x": torch.zeros(1)}, tmp_path / "x.pt")
    with pytest.raises(GanError, match="not a `gan classifier` file"):
        load_classifier(tmp_path / "x.pt")
    with pytest.raises(GanError, match="gan classifier dataset="):
        load_classifier(tmp_path / "missing.pt")


def test_class_metrics_closed_forms():
    same = class_metrics(torch.tensor([5, 5]), torch.tensor([50, 50]))
    assert same == {"class_coverage": 1.0, "class_kl": 0.0}
    collapsed = class_metrics(torch.tensor([10, 0]), torch.tensor([1, 1]))
    assert collapsed["class_coverage"] == 0.5 and collapsed["class_kl"] == pytest.approx(math.log(2))
    assert class_metrics(torch.tensor([1, 1]), torch.tensor([1, 0]))["class_kl"] == math.inf


def test_auto_features(tmp_path):
    mcfg = OmegaConf.structured(MetricsConfig(download=False))
    with pytest.raises(MetricsSkipped, match="`gan classifier dataset=fashion_mnist`"):
        choose_extractor(mcfg, "fashion_mnist", "cpu")
    random_classifier_file(tmp_path / "cache" / "classifiers" / "fashion_mnist.pt")
    assert choose_extractor(mcfg, "fashion_mnist", "cpu").name == "classifier"
    with pytest.raises(MetricsSkipped, match="Inception metrics skipped.*metrics.inception_weights=PATH"):
        choose_extractor(mcfg, "cifar10", "cpu")  # RGB data: Inception, whose weights are not here
    assert choose_extractor(OmegaConf.structured(MetricsConfig(features="none")), "cifar10", "cpu") is None
    with pytest.raises(GanError, match="choose one of auto, inception, classifier, none"):
        choose_extractor(OmegaConf.structured(MetricsConfig(features="vgg")), "cifar10", "cpu")


@pytest.mark.slow
def test_full_classifier_reaches_a_useful_accuracy(tmp_path):
    """The recipe `gan classifier dataset=fashion_mnist` runs: ~2 CPU-minutes on a quiet machine."""
    from gan_cli.train_classifier import run_classifier

    fashion_mnist_or_skip()
    result = run_classifier(OmegaConf.structured(ClassifierConfig(dataset=DatasetConfig(name="fashion_mnist"), device="cpu")))
    assert result["test_accuracy"] > 0.9
    assert result["real fid"] < 1.0 and result["real class_coverage"] > 0.97
