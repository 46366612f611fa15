"""evaluate_generator streams: samples are generated and featurised one batch at a time under
inference mode, nothing but running statistics is kept for FID/IS, and the streamed scores equal
the scores of all features computed at once."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from gan_cli.config import MetricsConfig
from gan_cli.data import DataSpec, to_uint8
from gan_cli.metrics import image_metrics, scores
from gan_cli.metrics.extractor import FeatureExtractor
from gan_cli.metrics.fid import frechet_distance, statistics
from gan_cli.metrics.image_metrics import Reference
from gan_cli.metrics.inception_score import inception_score
from gan_cli.metrics.sources import EVAL_SEED_OFFSET, NoiseStream
from gan_cli.models.mlp import MLPGenerator

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks: threads cost more than they save


class SpyExtractor(FeatureExtractor):
    name = "spy"

    def __init__(self):
        torch.manual_seed(0)
        super().__init__(nn.Linear(64, 6), "cpu", dims=6, num_classes=6, key="spy", provenance={"extractor": "spy"})
        self.batches: list[int] = []

    def forward(self, images):
        self.batches.append(len(images))
        features = self.net(images.float().flatten(1) / 255)
        return features, 3 * features


class SpyGenerator(MLPGenerator):
    def forward(self, z, y=None):
        assert torch.is_inference_mode_enabled() and not self.training
        return super().forward(z, y)


def test_generated_in_batches_and_streamed(monkeypatch):
    G = SpyGenerator(4, (1, 8, 8), [16], "none", "relu", image=True)
    extractor = SpyExtractor()
    rng = np.random.default_rng(0)
    ref = Reference(rng.standard_normal(6), np.cov(rng.standard_normal((100, 6)), rowvar=False), 100, "random")
    accumulators = []
    monkeypatch.setattr(scores, "choose_extractor", lambda *a: extractor)
    monkeypatch.setattr(scores, "real_reference", lambda *a: ref)
    monkeypatch.setattr(scores, "fake_accumulator",
                        lambda *a: accumulators.append(image_metrics.fake_accumulator(*a)) or accumulators[-1])
    cfg = OmegaConf.create({"seed": 1, "dataset": {"name": "folder"}, "metrics": OmegaConf.structured(MetricsConfig(names=["fid", "is"], num_samples=1000, batch_size=64))})
    spec = DataSpec("image", "folder", (1, 8, 8), 1, 8, 0)
    G.train()
    result = scores.evaluate_generator(G, spec, cfg, "cpu")
    assert G.training  # restored
    assert extractor.batches == [64] * 15 + [40]  # never more than one batch alive
    assert accumulators[0].kept == [] and accumulators[0].features() is None  # FID/IS keep statistics only

    # the same 1000 samples in one go give the same scores
    z = NoiseStream(4, 1 + EVAL_SEED_OFFSET).next(1000)
    with torch.inference_mode():
        G.eval()
        features, logits = extractor(to_uint8(G(z)))
    assert result["fid"] == pytest.approx(frechet_distance(*statistics(features), ref.mu, ref.sigma), rel=1e-10)
    assert result["is"] == pytest.approx(inception_score(logits)[0], rel=1e-12)
    assert result["provenance"]["num_samples"] == 1000 and result["provenance"]["seed"] == 1 + EVAL_SEED_OFFSET


def test_noise_does_not_depend_on_the_batch_size():
    stream = NoiseStream(3, 7)
    in_batches = torch.cat([stream.next(n) for n in (5, 1000, 1500)])
    assert torch.equal(NoiseStream(3, 7).next(2505), in_batches)
    assert torch.equal(NoiseStream(3, 7).next(8), in_batches[:8]) and math.isfinite(float(in_batches.sum()))


def test_a_metric_that_cannot_be_computed_does_not_end_the_training_run(monkeypatch):
    """KID with fewer samples than a subset: one warning and a `metrics_skipped` entry in training,
    the error itself in `gan eval`."""
    from gan_cli.errors import GanError
    from gan_cli.metrics import features

    monkeypatch.setattr(features, "_SAID", set())
    G = SpyGenerator(4, (1, 8, 8), [16], "none", "relu", image=True)
    ref = Reference(np.zeros(6), np.eye(6), 100, "random", features=np.zeros((100, 6), np.float32))
    monkeypatch.setattr(scores, "choose_extractor", lambda *a: SpyExtractor())
    monkeypatch.setattr(scores, "real_reference", lambda *a: ref)
    cfg = OmegaConf.create({"seed": 1, "dataset": {"name": "folder"},
                            "metrics": OmegaConf.structured(MetricsConfig(num_samples=50, names=["kid"]))})
    spec = DataSpec("image", "folder", (1, 8, 8), 1, 8, 0)
    result = scores.evaluate_generator(G, spec, cfg, "cpu")
    assert list(result) == ["metrics_skipped"] and "subsets of 1000 samples but got 50" in result["metrics_skipped"]
    with pytest.raises(GanError, match="kid_subset_size"):
        scores.evaluate_generator(G, spec, cfg, "cpu", strict=True)
