"""The divergence watch: a non-finite running loss sum is caught at the step it appears (CPU) or
a few steps later without a host sync (GPU); non-finite state is found by name."""

from __future__ import annotations

import math

import pytest
import torch

from gan_cli.divergence import DivergenceWatch, first_nonfinite, named_tensors


def sums(d: float, g: float, device="cpu") -> dict[str, torch.Tensor]:
    return {"d/loss": torch.tensor(d, device=device), "g/loss": torch.tensor(g, device=device),
            "d/d_real": torch.tensor(math.nan, device=device)}  # stats are not watched


def test_watch_names_the_step_whose_running_sum_turned_non_finite_on_cpu():
    watch = DivergenceWatch(torch.device("cpu"))
    assert watch.post(1, sums(1.0, 2.0)) is None
    assert watch.post(2, {}) is None  # nothing recorded yet in this interval
    assert watch.post(3, sums(1.0, math.inf)) == 3
    assert watch.post(4, sums(-math.inf, math.inf)) == 4  # inf - inf = nan is caught too


def test_first_nonfinite_names_the_tensor_and_ignores_integers():
    state = {"G": {"w": torch.ones(3), "steps": torch.tensor([2**62])}, "opt": [{"exp_avg": torch.zeros(2)}]}
    assert first_nonfinite(named_tensors(state)) is None
    state["opt"][0]["exp_avg"][1] = math.inf
    assert first_nonfinite(named_tensors(state)) == "opt.0.exp_avg"
    assert first_nonfinite([]) is None


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_watch_on_gpu_reports_the_bad_step_without_waiting():
    device = torch.device("cuda")
    watch = DivergenceWatch(device, depth=4)
    found = [watch.post(step, sums(1.0, 1.0, device)) for step in range(1, 10)]
    found.append(watch.post(10, sums(1.0, math.nan, device)))
    torch.cuda.synchronize()
    found.append(watch.poll())
    assert [f for f in found if f is not None] == [10]
    # with more checks in flight than slots, the oldest is waited for, and none is lost
    watch = DivergenceWatch(device, depth=2)
    results = [watch.post(1, sums(math.nan, 1.0, device))] + [watch.post(s, sums(1.0, 1.0, device)) for s in (2, 3)]
    torch.cuda.synchronize()
    results.append(watch.poll())
    assert 1 in results
