"""One GPU per job under hydra/launcher=local: job k sees GPU k mod N of the sweep's N."""

from __future__ import annotations

import pytest

from gan_cli import gpus


def sweep_env(visible: str | None) -> dict:
    env = {} if visible is None else {"CUDA_VISIBLE_DEVICES": visible}
    gpus.record_pool(env)
    return env


@pytest.mark.parametrize("visible, expected", [
    ("0,1,2", ["0", "1", "2", "0", "1"]),
    ("3,5", ["3", "5", "3", "5", "3"]),
    ("GPU-aa,GPU-bb", ["GPU-aa", "GPU-bb", "GPU-aa", "GPU-bb", "GPU-aa"]),
    ("7", ["7"] * 5),
])
def test_job_k_sees_gpu_k_mod_n(visible, expected):
    env = sweep_env(visible)
    seen = []
    for job in range(5):
        job_env = dict(env)  # each job's process inherits the sweep's environment
        gpus.claim_gpu(job, job_env)
        seen.append(job_env["CUDA_VISIBLE_DEVICES"])
    assert seen == expected


def test_the_pool_comes_from_the_driver_when_cuda_visible_devices_is_unset(monkeypatch):
    monkeypatch.setattr("torch.cuda.device_count", lambda: 4)
    env = sweep_env(None)
    assert env[gpus.POOL_ENV] == "0,1,2,3"
    job_env = dict(env)
    gpus.claim_gpu(6, job_env)
    assert job_env["CUDA_VISIBLE_DEVICES"] == "2"


def test_no_gpu_leaves_the_job_alone():
    env = sweep_env("")  # CUDA_VISIBLE_DEVICES="" hides every GPU
    job_env = dict(env)
    assert gpus.claim_gpu(3, job_env) is None
    assert job_env == env


@pytest.mark.slow
def test_each_local_job_process_sees_its_own_gpu(tmp_path):
    """Through the local launcher (submitit processes): the GPU each job's process was given, as
    its train.log records it (device=cpu: the ids need no real GPUs)."""
    from tests.conftest import REPO, run_gan
    from tests.helpers import TINY_RING

    result = run_gan("train", "-m", "hydra/launcher=local", *TINY_RING, "trainer.steps=2", "metrics=none",
                     "seed=0,1,2", f"hydra.sweep.dir={tmp_path}", cwd=REPO,
                     env={"CUDA_VISIBLE_DEVICES": "3,5", "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    for job, gpu in zip(range(3), ["3", "5", "3"]):
        log = next(tmp_path.glob(f"{job}_*/train.log")).read_text()
        assert f"job {job}: CUDA_VISIBLE_DEVICES={gpu}" in log
