"""One GPU per job for sweeps run as local processes (hydra/launcher=local): with N GPUs
visible to the sweep, job k sees only GPU k mod N.

submitit's local executor gives every job the same first GPUs, so parallel jobs (a sweep's,
or `hydra.sweeper.n_jobs` trials of a search) would all crowd onto GPU 0. The sweep's process
records the GPUs it sees in GAN_SWEEP_GPUS; each job, before anything touches CUDA, narrows its
own CUDA_VISIBLE_DEVICES to one of them.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

POOL_ENV = "GAN_SWEEP_GPUS"


def visible_gpus(env: MutableMapping[str, str] = os.environ) -> list[str]:
    """The GPUs this process may use: CUDA_VISIBLE_DEVICES's entries (ids or UUIDs), else every
    GPU the driver reports."""
    listed = env.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [gpu.strip() for gpu in listed.split(",") if gpu.strip()]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]  # NVML: no CUDA context is created


def record_pool(env: MutableMapping[str, str] = os.environ) -> None:
    """In the sweep's process: remember the GPUs for the jobs (they inherit the environment)."""
    env.setdefault(POOL_ENV, ",".join(visible_gpus(env)))


def gpu_for_job(job_num: int, pool: list[str]) -> str:
    return pool[job_num % len(pool)]


def claim_gpu(job_num: int, env: MutableMapping[str, str] = os.environ) -> str | None:
    """In job `job_num`'s own process, before CUDA starts: keep one GPU of the sweep's pool."""
    pool = [gpu for gpu in env.get(POOL_ENV, "").split(",") if gpu]
    if not pool:
        return None
    env["CUDA_VISIBLE_DEVICES"] = gpu_for_job(job_num, pool)
    return env["CUDA_VISIBLE_DEVICES"]
