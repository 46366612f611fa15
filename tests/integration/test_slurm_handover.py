"""A run stopped by a signal inside a submitit Slurm job leaves without a result, so that Slurm
can start the job again: SIGUSR2 through submitit's own requeue handler, SIGTERM (Slurm is
already ending or requeueing the job) by exiting. Checked here without Slurm; tests/integration/test_slurm.py
runs the real thing."""

from __future__ import annotations

import signal

import pytest

from gan_cli import slurm


@pytest.fixture
def in_slurm_job(monkeypatch):
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "slurm")
    monkeypatch.setenv("SLURM_JOB_ID", "42")


def test_only_a_submitit_slurm_job_is_one(monkeypatch):
    monkeypatch.delenv("SUBMITIT_EXECUTOR", raising=False)
    monkeypatch.setenv("SLURM_JOB_ID", "42")  # a plain sbatch script running gan train
    assert not slurm.in_submitit_slurm_job()
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "local")
    assert not slurm.in_submitit_slurm_job()
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "slurm")
    assert slurm.in_submitit_slurm_job()


def test_sigusr2_goes_to_submitits_requeue_handler(in_slurm_job):
    calls = []

    def submitit_handler(signum, frame):  # submitit's checkpoint_and_try_requeue ends with sys.exit(-1)
        calls.append(signum)
        raise SystemExit(-1)

    previous = signal.signal(signal.SIGUSR2, submitit_handler)
    try:
        with pytest.raises(SystemExit) as e:
            slurm.hand_over_to_slurm("SIGUSR2")
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert calls == [signal.SIGUSR2] and e.value.code == -1


def test_sigterm_exits_without_a_result_and_without_requeueing_again(in_slurm_job):
    calls = []
    previous = signal.signal(signal.SIGUSR2, lambda signum, frame: calls.append(signum))
    try:
        with pytest.raises(SystemExit) as e:
            slurm.hand_over_to_slurm("SIGTERM")
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert calls == [] and e.value.code == 128 + signal.SIGTERM
    assert not isinstance(e.value, Exception)  # submitit writes a result only for an Exception
