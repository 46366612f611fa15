"""Inception Score: closed forms and torch-fidelity's isc on the same logits (shuffled or not)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gan_cli.errors import GanError
from gan_cli.metrics.inception_score import InceptionScore, inception_score


def test_uniform_class_probabilities_give_one():
    mean, std = inception_score(torch.zeros(100, 7))
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)


def test_distinct_one_hot_predictions_give_the_split_size():
    # 10 splits of 50 confident predictions of 50 different classes: p(y) uniform over 50
    logits = torch.full((500, 500), -1e4)
    logits[torch.arange(500), torch.arange(500)] = 0.0
    mean, std = inception_score(logits, splits=10, shuffle=False)
    assert mean == pytest.approx(50.0, rel=1e-12) and std == pytest.approx(0.0, abs=1e-9)


def test_two_samples_by_hand():
    # p1 = (0.8, 0.2), p2 = (0.2, 0.8): marginal (0.5, 0.5), KL = 0.8 ln 1.6 + 0.2 ln 0.4 for both
    logits = torch.log(torch.tensor([[0.8, 0.2], [0.2, 0.8]], dtype=torch.float64))
    expected = math.exp(0.8 * math.log(1.6) + 0.2 * math.log(0.4))
    assert inception_score(logits, splits=1)[0] == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("n", [1000, 1003])  # uneven splits too
def test_equals_torch_fidelity(shuffle, n):
    metric_isc = pytest.importorskip("torch_fidelity.metric_isc")
    logits = torch.randn(n, 20, generator=torch.Generator().manual_seed(n)) * 3
    theirs = metric_isc.isc_features_to_metric(logits, splits=10, shuffle=shuffle, rng_seed=2020)
    mean, std = inception_score(logits, splits=10, shuffle=shuffle)
    assert mean == pytest.approx(theirs["inception_score_mean"], rel=1e-12)
    assert std == pytest.approx(theirs["inception_score_std"], rel=1e-9)
    if shuffle:  # the shuffle matters for ordered data: a negative control
        unshuffled = inception_score(logits.sort(dim=0).values, splits=10, shuffle=False)[0]
        assert unshuffled != pytest.approx(inception_score(logits.sort(dim=0).values, splits=10)[0], rel=1e-6)


def test_streaming_in_batches_equals_one_pass():
    logits = torch.randn(777, 12, generator=torch.Generator().manual_seed(1)) * 2
    score = InceptionScore(777, splits=10)
    for part in logits.split(100):
        score.update(part.float())
    assert score.result() == pytest.approx(inception_score(logits.float()), rel=1e-13)


def test_too_few_or_a_wrong_count_are_clear_errors():
    with pytest.raises(GanError, match="at least 10 samples"):
        InceptionScore(5)
    score = InceptionScore(20)
    score.update(torch.zeros(10, 3))
    with pytest.raises(GanError, match="10 samples of the announced 20"):
        score.result()
    assert np.isfinite(inception_score(torch.zeros(10, 3))[0])
