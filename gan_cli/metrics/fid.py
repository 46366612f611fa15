"""Fréchet distance between two Gaussians fitted to features (FID when the features are Inception's).

FID = ||mu1 - mu2||^2 + tr S1 + tr S2 - 2 tr sqrt(S1 S2)

Statistics are float64 with the unbiased covariance (ddof=1, as TTUR and pytorch-fid), streamed
batch by batch (Chan et al.'s pairwise update of mean and centred sums: no float32 sums, no
cancellation from E[xx^T] - mu mu^T), so memory stays flat however many samples are scored.

The trace of the square root is computed all-real and exactly, as a nuclear norm: with factors
S1 = F1 F1^T and S2 = F2 F2^T, S1 S2 has the eigenvalues of (F1^T F2)(F1^T F2)^T, so
tr sqrt(S1 S2) = sum of the singular values of F1^T F2. Each factor is a Cholesky factor (or,
for a singular covariance, N <= d, the eigh square root restricted to its numerical rank). Summing
singular values, which carry absolute errors of ~eps * the largest, avoids the square root of
rounding noise that eigenvalue methods pay (sqrt(eps * largest) ~ 1e-8 per exact zero): on a
2048-d pair it agrees with scipy.linalg.sqrtm (pytorch-fid) and torch-fidelity's complex eigvals
to ~1e-14, and with a 40-digit computation to ~1e-16, needs no imaginary-part check and cannot
return NaN.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch

from gan_cli.errors import GanError
from gan_cli.metrics.registry import STATISTICS, Metric, Score, register_metric

log = logging.getLogger("gan")

# Below this many samples the 2048-d Inception covariance is rank-deficient and FID is strongly
# biased upwards; the usual protocol is 50k generated samples.
MIN_SAMPLES = 2048


class MeanCovariance:
    """Streaming float64 mean and covariance of feature batches, on the features' device."""

    def __init__(self):
        self.n = 0
        self.mean: torch.Tensor | None = None
        self.m2: torch.Tensor | None = None  # sum of outer products of deviations from the mean

    def update(self, x: torch.Tensor) -> None:
        x = x.detach().to(torch.float64).flatten(1)
        nb = len(x)
        if nb == 0:
            return
        mean_b = x.mean(0)
        xc = x - mean_b
        m2_b = xc.T @ xc
        if self.n == 0:
            self.mean, self.m2 = mean_b, m2_b
        else:
            total = self.n + nb
            delta = mean_b - self.mean
            self.mean = self.mean + delta * (nb / total)
            self.m2 = self.m2 + m2_b + torch.outer(delta, delta) * (self.n * nb / total)
        self.n += nb

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        if self.n < 2:
            raise GanError(f"FID needs at least 2 samples, got {self.n}: raise metrics.num_samples")
        sigma = self.m2 / (self.n - 1)
        sigma = (sigma + sigma.T) / 2  # exactly symmetric: eigh below assumes it
        return self.mean.cpu().numpy(), sigma.cpu().numpy()


def statistics(features: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """mu, sigma of an (N, d) array, as streamed by MeanCovariance."""
    acc = MeanCovariance()
    acc.update(torch.as_tensor(np.asarray(features)))
    return acc.result()


def _factor(matrix: np.ndarray) -> np.ndarray:
    """F with F F^T = matrix (symmetric PSD): the Cholesky factor when positive definite; else
    V sqrt(W) over the eigenvalues above the numerical-rank tolerance (d * eps * the largest, as
    numpy.linalg.matrix_rank), the others being rounding noise of exact zeros."""
    try:
        return np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:  # singular (N <= d) or numerically so
        w, v = np.linalg.eigh(matrix)
        keep = w > max(w.max(initial=0.0), 0.0) * len(w) * np.finfo(np.float64).eps
        return v[:, keep] * np.sqrt(w[keep])


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr sqrt(S1 S2) for symmetric PSD S1, S2: the nuclear norm of F1^T F2 (module docstring)."""
    product = _factor(sigma1).T @ _factor(sigma2)
    if product.size == 0:  # a zero covariance
        return 0.0
    return float(np.linalg.svd(product, compute_uv=False).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (len(mu1), len(mu1)):
        raise GanError(
            f"FID statistics do not match: mu {mu1.shape} vs {mu2.shape}, sigma {sigma1.shape} vs {sigma2.shape}; "
            "were they computed with the same feature extractor?"
        )
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt_product(sigma1, sigma2))


def warn_if_few(n: int, dims: int, what: str = "FID") -> None:
    if n < max(MIN_SAMPLES, dims + 1):
        singular = f"the {dims}-d covariance is singular (N <= d) and " if n <= dims else ""
        log.warning("%s from %d samples: %sthe score is biased upwards for small N; use at least %d "
                    "(50k is the usual protocol) and compare only scores with the same N",
                    what, n, singular, MIN_SAMPLES)


@register_metric("fid")
class FID(Metric):
    """The generated features' streamed mean and covariance against the reference's."""

    scores = {"fid": Score("FID", higher_is_better=False)}
    accumulates = frozenset({STATISTICS})

    def compute(self, fake, ref, mcfg, extractor) -> dict:
        mu, sigma = fake.stats.result()
        warn_if_few(fake.seen, extractor.dims)
        return {"fid": frechet_distance(mu, sigma, ref.mu, ref.sigma)}


# ----------------------------------------------------------------------------- files
def save_stats(path: str | Path, mu: np.ndarray, sigma: np.ndarray, **extra) -> None:
    """pytorch-fid's format (`mu`, `sigma`), plus anything else given (n, features, ...)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")  # sweeps may write the same file at once
    np.savez(tmp, mu=mu, sigma=sigma, **extra)
    tmp.replace(path)


def load_stats(path: str | Path) -> dict[str, np.ndarray]:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            stats = {k: data[k] for k in data.files}
    except (OSError, ValueError) as e:
        raise GanError(f"cannot read statistics {path}: {e}: delete it and compute it again") from e
    if "mu" not in stats or "sigma" not in stats:
        raise GanError(f"{path} holds no FID statistics (keys 'mu' and 'sigma', pytorch-fid's format)")
    return stats
