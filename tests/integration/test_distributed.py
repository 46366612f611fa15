"""Distributed training: sharding, gradient averaging (penalties included), torchrun runs that equal
one process with the same global batch, and Hydra's submitit launcher."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gan_cli import distributed
from gan_cli.data import EpochOrder, ToyBatches
from gan_cli.data.toy2d import GaussianMixture
from gan_cli.errors import GanError

REPO = Path(__file__).resolve().parents[2]


# ----------------------------------------------------------------------------- sharding
def test_rank_slices_tile_the_global_batch():
    x = torch.arange(12)
    parts = [distributed.local_part(x, (r, 3)) for r in range(3)]
    assert [p.tolist() for p in parts] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    assert distributed.local_part(None, (1, 3)) is None


def test_sharded_epoch_orders_together_draw_one_process_batches():
    single = EpochOrder(10, 4, seed=3)
    ranks = [EpochOrder(10, 4, seed=3, shard=(r, 2)) for r in range(2)]
    for _ in range(7):  # crosses epoch boundaries (10 // 4 = 2 batches per epoch)
        assert torch.cat([o.next() for o in ranks]).tolist() == single.next().tolist()
    # the saved state is the global one, the same on every rank: any rank's checkpoint resumes all
    assert ranks[0].state_dict()["position"] == ranks[1].state_dict()["position"] == single.state_dict()["position"]


def test_sharded_toy_batches_together_draw_one_process_batches():
    mixture = GaussianMixture("ring")
    single = ToyBatches(mixture, 8, seed=1, device=torch.device("cpu"))
    ranks = [ToyBatches(mixture, 8, seed=1, device=torch.device("cpu"), shard=(r, 2)) for r in range(2)]
    for _ in range(3):
        x, y = single.next()
        parts = [b.next() for b in ranks]
        assert torch.equal(torch.cat([p[0] for p in parts]), x) and torch.equal(torch.cat([p[1] for p in parts]), y)


def test_global_batch_must_split_evenly(monkeypatch):
    monkeypatch.setattr(distributed, "world_size", lambda: 3)
    assert distributed.local_batch_size(12) == 4
    with pytest.raises(GanError, match="multiple of 3"):
        distributed.local_batch_size(16)


def test_under_torchrun_sweeps_are_refused_and_info_flags_answered_by_rank_0(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    with pytest.raises(SystemExit) as info:  # rank 1 leaves --cfg to rank 0, without joining a group
        distributed.follow_main_run_dir(["dataset=ring", "--cfg", "job"])
    assert info.value.code == 0
    with pytest.raises(GanError, match="submitit_slurm"):
        distributed.follow_main_run_dir(["--multirun", "seed=0,1"])


def test_each_rank_resumes_its_own_random_stream(monkeypatch):
    saved, per_rank = {"who": "rank 0"}, [{"who": "rank 0"}, {"who": "rank 1"}]
    assert distributed.own_rng_state(saved, per_rank) is saved  # one process: rank 0's
    monkeypatch.setattr(distributed, "world_size", lambda: 2)
    monkeypatch.setattr(distributed, "rank", lambda: 1)
    assert distributed.own_rng_state(saved, per_rank) == {"who": "rank 1"}
    assert distributed.own_rng_state(saved, None) is None  # written by one process: reseed
    monkeypatch.setattr(distributed, "world_size", lambda: 4)
    assert distributed.own_rng_state(saved, per_rank) is None  # written by 2, resumed by 4


# ----------------------------------------------------------------------------- gradients under DDP
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _nets():
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 2)).double()
    D = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1)).double()
    return G, D


def _global_batch(n: int = 8):
    gen = torch.Generator().manual_seed(1)
    real = torch.randn(n, 2, generator=gen, dtype=torch.float64)
    z = torch.randn(n, 3, generator=gen, dtype=torch.float64)
    eps = torch.rand(n, 1, generator=gen, dtype=torch.float64)
    return real, z, eps


def _input_gradient(D, x):
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    return g


def _d_loss(D_wrapped, D_plain, real, fake, eps):
    """NS loss through the wrapper + a WGAN-GP-style penalty through the wrapper + R1 through the
    plain module: the mix losses and tricks produce, summed into one backward as the trainer does."""
    adv = F.softplus(-D_wrapped(real)).mean() + F.softplus(D_wrapped(fake)).mean()
    gp = ((_input_gradient(D_wrapped, eps * real + (1 - eps) * fake).norm(dim=1) - 1) ** 2).mean()
    r1 = _input_gradient(D_plain, real).pow(2).sum(1).mean()
    return adv + 10 * gp + 5 * r1


def _phases(G_train, D_train, D_plain, real, z, eps):
    """One D and one G backward; returns (D grads, G grads)."""
    fake = G_train(z)
    D_plain.zero_grad()
    _d_loss(D_train, D_plain, real, fake.detach(), eps).backward()
    d_grads = [p.grad.clone() for p in D_plain.parameters()]
    D_plain.requires_grad_(False)
    F.softplus(-D_plain(fake)).mean().backward()  # the G phase calls D unwrapped
    D_plain.requires_grad_(True)
    return d_grads, [p.grad.clone() for p in G_train.parameters()]


def _ddp_worker(rank: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    distributed.init()
    try:
        G, D = _nets()
        cpu = torch.device("cpu")
        G_train, D_train = distributed.wrap(G, cpu), distributed.wrap(D, cpu)
        real, z, eps = (distributed.local_part(t) for t in _global_batch())
        d_grads, g_grads = _phases(G_train, D_train, D, real, z, eps)

        # The trap: a backward of a penalty alone never reaches DDP's hooks, so each rank keeps
        # its own gradient; the check at every log step catches the drift.
        D.zero_grad()
        _input_gradient(D_train, real).pow(2).sum(1).mean().backward()
        lonely = [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in D.parameters()]
        with torch.no_grad():
            for p, g in zip(D.parameters(), lonely):
                p -= 0.1 * g
        try:
            distributed.same_weights(D=D)
            caught = ""
        except GanError as e:
            caught = str(e)
        torch.save({"d": d_grads, "g": g_grads, "lonely": lonely, "caught": caught}, f"{out}/rank{rank}.pt")
    finally:
        distributed.shutdown()


def test_ddp_averages_both_players_gradients_including_penalties(tmp_path):
    """Two gloo processes, each with half the batch, get exactly (float64) the gradients of one
    process with the whole batch: adversarial terms, gradient penalty and R1, for D and G."""
    torch.multiprocessing.spawn(_ddp_worker, args=(_free_port(), str(tmp_path)), nprocs=2)
    G, D = _nets()
    real, z, eps = _global_batch()
    d_ref, g_ref = _phases(G, D, D, real, z, eps)
    for rank in range(2):
        got = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        for a, b in zip(got["d"] + got["g"], d_ref + g_ref):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
        assert "differ across processes" in got["caught"]
    # the penalty-only backward really was left unsynchronised: the two ranks disagree
    lonely = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True)["lonely"] for r in range(2)]
    assert max((a - b).abs().max().item() for a, b in zip(*lonely)) > 1e-3


# ----------------------------------------------------------------------------- torchrun end to end
# Smooth, BN-free networks on image data held in memory (the sharded MemoryBatches path).
TINY = ["dataset=fashion_mnist", "dataset.download=false", "arch=mlp", "arch.activation=tanh", "arch.g_hidden=[32,32]",
        "arch.d_hidden=[32,32]", "arch.g_norm=none", "arch.d_norm=none", "metrics=none", "trainer.batch_size=16",
        "trainer.log_every=4", "trainer.sample_every=0", "trainer.checkpoint_every=4", "trainer.progress=false"]


def _env() -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    for key in ("HYDRA_FULL_ERROR", "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return env


def _gan(*args: str, cwd: Path, nproc: int = 1) -> subprocess.CompletedProcess:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"] if nproc > 1 else [sys.executable]
    result = subprocess.run([*launcher, "-m", "gan_cli.cli", "train", *args], cwd=cwd, env=_env(),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def _weights(run: Path, name: str = "final.pt") -> dict:
    state = torch.load(run / "checkpoints" / name, weights_only=True)
    return {f"{net}.{k}": v for net in ("G", "D") for k, v in state[net].items()}


def _max_gap(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


# Tolerance for the weights. With BN-free nets, the same samples and the same noise, the 2-rank
# gradient (g_0 + g_1) / 2 of half-batch means equals the 1-process gradient of the full-batch
# mean in exact arithmetic; in float32 the sums run in another order (per half, then across
# ranks), which moves gradients by ~1e-7 relative, and Adam turns any gradient into a step of
# about lr = 2e-4, so the weights stay within ~1e-7 (measured: 8e-8 after 40 steps of this
# config; 6e-8 after 20 steps of ring/MLP/ReLU). A sharding mistake (a rank seeing other samples
# or other noise) changes whole updates: gaps of order lr, 200x the tolerance.
# Smooth activations matter: with ReLU/LeakyReLU a rounding-level difference can flip one
# pre-activation's sign, which changes that sample's backward pass discretely (seen with a tiny
# DCGAN: gap 4.5e-5 in G from step 5); such runs agree statistically, not to float tolerance.
WEIGHT_ATOL = 1e-6


@pytest.mark.slow
def test_two_process_torchrun_equals_one_process_with_the_global_batch(tmp_path, idx_root):
    data = f"dataset.root={idx_root}"
    _gan(*TINY, data, "trainer.steps=8", "hydra.run.dir=single", cwd=tmp_path)
    dist_run = _gan(*TINY, data, "trainer.steps=8", cwd=tmp_path, nproc=2)

    # one run folder, made by rank 0 under its own name; no stray folders from rank 1
    (run,) = [p for p in (tmp_path / "outputs").glob("*/*") if p.is_dir()]
    assert (run / ".hydra" / "config.yaml").is_file()
    assert {p.name for p in (run / "checkpoints").glob("*.pt")} == {"step_0000004.pt", "last.pt", "final.pt"}
    summary = json.loads((run / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["status"] == "finished" and summary["steps"] == 8
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [4, 8]  # written once, by rank 0
    assert dist_run.stdout.count("status") == 1  # one summary table, not one per rank
    final = torch.load(run / "checkpoints" / "final.pt", weights_only=True)
    assert len(final["rng_ranks"]) == 2 and not torch.equal(final["rng_ranks"][0]["torch"], final["rng_ranks"][1]["torch"])

    single_run = tmp_path / "single"
    assert _max_gap(_weights(run), _weights(single_run)) < WEIGHT_ATOL
    # ...while training did move the weights by far more than the tolerance
    assert _max_gap(_weights(run, "step_0000004.pt"), _weights(run)) > 100 * WEIGHT_ATOL
    single_rows = [json.loads(line) for line in (single_run / "metrics.jsonl").read_text().splitlines()]
    for key in ("d/loss", "g/loss", "d/d_real"):  # logged losses are the means over ranks
        assert rows[-1][key] == pytest.approx(single_rows[-1][key], rel=1e-4, abs=1e-5)

    # every rank resumes from the same checkpoint; the continued run still equals one process
    _gan(f"resume={run}", "trainer.steps=12", cwd=tmp_path, nproc=2)
    _gan(f"resume={single_run}", "trainer.steps=12", cwd=tmp_path)
    assert json.loads((run / "summary.json").read_text())["steps"] == 12
    assert _max_gap(_weights(run), _weights(single_run)) < WEIGHT_ATOL
    assert [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [4, 8, 12]


@pytest.mark.slow
def test_a_signal_to_one_rank_stops_all_ranks_together_with_a_checkpoint(tmp_path):
    """Slurm's warning (USR2) reaching one rank only: the ranks agree at the next log step, all
    stop there, and rank 0 writes the checkpoint and a 'stopped' summary."""
    import signal
    import time

    args = ["dataset=ring", "arch=mlp", "metrics=none", "trainer.steps=1000000", "trainer.log_every=5",
            "trainer.batch_size=16", "trainer.checkpoint_every=0", "trainer.sample_every=0", "trainer.progress=false"]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    proc = subprocess.Popen([*launcher, "-m", "gan_cli.cli", "train", *args], cwd=tmp_path, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 300
        while not list(tmp_path.glob("outputs/*/*/metrics.jsonl")) and time.time() < deadline:
            time.sleep(0.5)
        workers = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert len(workers) == 2
        os.kill(int(workers[-1]), signal.SIGUSR2)
        output, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    # a stopped run exits 128 + the signal (apps.guarded: scripts never take it for a finished
    # one); torchrun reports that as its workers' failure and exits 1 itself
    assert proc.returncode != 0 and f"exitcode  : {128 + signal.SIGUSR2}" in output, output[-3000:]
    (run,) = tmp_path.glob("outputs/*/*")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "stopped" and summary["signal"] == "SIGUSR2" and summary["world_size"] == 2
    assert summary["steps"] % 5 == 0  # at a log step, where the ranks agree
    assert torch.load(run / "checkpoints" / "last.pt", weights_only=True)["step"] == summary["steps"]


# ----------------------------------------------------------------------------- submitit
@pytest.mark.slow
def test_submitit_local_sweep_runs_two_distributed_jobs_into_two_run_folders(tmp_path):
    """The Slurm launcher's code path on this machine: two jobs, each 2 processes (tasks) that join
    one process group from submitit's environment, as a 2-GPU Slurm job would."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    result = subprocess.run(
        [sys.executable, "-m", "gan_cli.cli", "train", "--multirun", "hydra/launcher=local",
         "hydra.launcher.tasks_per_node=2", "dataset=ring", "arch=mlp", "metrics=none", "trainer.steps=10",
         "trainer.log_every=5", "trainer.batch_size=16", "seed=0,1"],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    sweep = tmp_path / "outputs" / "multirun"
    runs = sorted(p for p in sweep.glob("*/*/*") if p.is_dir() and p.name[0].isdigit())
    assert [r.name.split("_", 1)[0] for r in runs] == ["0", "1"]
    for run, seed in zip(runs, (0, 1)):
        summary = json.loads((run / "summary.json").read_text())
        assert summary["status"] == "finished" and summary["seed"] == seed and summary["world_size"] == 2
        assert {p.name for p in (run / "checkpoints").glob("*.pt")} == {"last.pt", "final.pt"}
        assert len((run / "metrics.jsonl").read_text().splitlines()) == 2  # rank 0 alone logs
