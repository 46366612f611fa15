"""A run stopped by a signal inside a Slurm job started by submitit (hydra/launcher=slurm).

The trainer has already written a checkpoint and `"status": "interrupted"`; what remains is to
let Slurm start the job again, where gan_cli/train.py's run_sweep_job resumes it from that
checkpoint:

- SIGUSR2 is Slurm's warning before the time limit (`--signal=USR2@signal_delay_s`) or a
  preemption notice: submitit's own handler (which the trainer replaced while it trained) saves
  the launcher call and runs `scontrol requeue`, then exits without a result, so the sweep waits.
- SIGTERM comes from Slurm ending the job (`scontrol requeue`, preemption with requeue, scancel):
  Slurm decides whether it runs again, so the job only exits, again without a result.
"""

from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger("gan")


def in_submitit_slurm_job() -> bool:
    return os.environ.get("SUBMITIT_EXECUTOR") == "slurm" and "SLURM_JOB_ID" in os.environ


def hand_over_to_slurm(signal_name: str) -> None:
    """Leave the process so that Slurm can requeue the job (never returns)."""
    signum = signal.Signals[signal_name]
    if signum == getattr(signal, "SIGUSR2", None):
        submitit_handler = signal.getsignal(signum)
        if callable(submitit_handler):
            log.warning("%s in Slurm job %s: requeueing it; it resumes from its checkpoint",
                        signal_name, os.environ["SLURM_JOB_ID"])
            submitit_handler(signum, None)  # requeues and exits (SystemExit)
    log.warning("%s in Slurm job %s: exiting with a checkpoint; a requeued job resumes from it",
                signal_name, os.environ["SLURM_JOB_ID"])
    # SystemExit, not an exception: submitit writes no result, so Hydra waits for the requeued job
    raise SystemExit(128 + signum.value)
