"""Inception Score: exp(E_x KL(p(y|x) || p(y))) per split, mean and std over splits.

As improved-gan and torch-fidelity: softmax of the logits in float64, `splits` consecutive
chunks [i N // s, (i + 1) N // s), std with ddof=0. torch-fidelity first shuffles the samples
with np.random.RandomState(2020).permutation(N) (`shuffle`, our default too); improved-gan does
not. Streamed: since E_x KL(p(y|x) || p(y)) = E_x sum p log p - sum p(y) log p(y), each split
only needs the sum of p(y|x) and the sum of p log p, so the logits are never all held at once.
"""

from __future__ import annotations

import numpy as np
import torch

from gan_cli.errors import GanError
from gan_cli.metrics.registry import LOGITS, Metric, Score, register_metric

SHUFFLE_SEED = 2020


class InceptionScore:
    def __init__(self, total: int, splits: int = 10, shuffle: bool = True, seed: int = SHUFFLE_SEED):
        if total < splits:
            raise GanError(f"the Inception Score needs at least {splits} samples (one per split), got {total}")
        self.total, self.splits = total, splits
        # split of sample i: where i lands after the shuffle, cut into `splits` chunks
        position = np.arange(total)
        if shuffle:
            position = np.empty(total, dtype=np.int64)
            position[np.random.RandomState(seed).permutation(total)] = np.arange(total)
        bounds = np.array([(i + 1) * total // splits for i in range(splits)])
        self.split_of = torch.from_numpy(np.searchsorted(bounds, position, side="right"))
        self.seen = 0
        self.p_sum: torch.Tensor | None = None  # (splits, classes)
        self.plogp_sum: torch.Tensor | None = None  # (splits,)

    def update(self, logits: torch.Tensor) -> None:
        n = len(logits)
        if self.seen + n > self.total:
            raise GanError(f"Inception Score: more than the announced {self.total} samples")
        logits = logits.detach().to(torch.float64)
        log_p = logits.log_softmax(dim=1)
        p = log_p.exp()
        split = self.split_of[self.seen : self.seen + n].to(logits.device)
        if self.p_sum is None:
            self.p_sum = torch.zeros(self.splits, logits.shape[1], dtype=torch.float64, device=logits.device)
            self.plogp_sum = torch.zeros(self.splits, dtype=torch.float64, device=logits.device)
        self.p_sum.index_add_(0, split, p)
        self.plogp_sum.index_add_(0, split, torch.xlogy(p, p).sum(1))
        self.seen += n

    def result(self) -> tuple[float, float]:
        if self.seen != self.total:
            raise GanError(f"Inception Score: got {self.seen} samples of the announced {self.total}")
        counts = torch.bincount(self.split_of, minlength=self.splits).to(self.p_sum.device, torch.float64)
        marginal = self.p_sum / counts[:, None]
        kl = self.plogp_sum / counts - torch.xlogy(marginal, marginal).sum(1)
        scores = kl.exp().cpu().numpy()
        return float(np.mean(scores)), float(np.std(scores))


def inception_score(logits, splits: int = 10, shuffle: bool = True, seed: int = SHUFFLE_SEED) -> tuple[float, float]:
    """Mean and std of the Inception Score of an (N, classes) array of logits."""
    logits = torch.as_tensor(np.asarray(logits) if not torch.is_tensor(logits) else logits)
    score = InceptionScore(len(logits), splits, shuffle, seed)
    score.update(logits)
    return score.result()


@register_metric("is")
class IS(Metric):
    """The Inception Score of the generated samples alone (and its spread over the splits)."""

    scores = {"is": Score("IS", higher_is_better=True)}
    accumulates = frozenset({LOGITS})
    needs_real = False

    def compute(self, fake, ref, mcfg, extractor) -> dict:
        mean, std = fake.score.result()
        return {"is": mean, "is_std": std}

    def provenance(self, mcfg) -> dict:
        return {"is_splits": mcfg.is_splits, "is_shuffle": mcfg.is_shuffle}

    def check_settings(self, mcfg) -> None:
        if mcfg.num_samples < mcfg.is_splits:
            raise GanError(f"metrics.num_samples={mcfg.num_samples} is fewer than metrics.is_splits={mcfg.is_splits}: "
                           "raise num_samples")
