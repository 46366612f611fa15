"""Several processes, one training run: torch.distributed, started by torchrun or by submitit.

    torchrun --nproc_per_node=4 $(which gan) train ...          # one process per GPU
    gan train --multirun hydra/launcher=slurm ...                # Slurm jobs (docs/cluster.md)

One process ("rank") per device; LOCAL_RANK picks the GPU. NCCL carries CUDA tensors and gloo
CPU tensors (one process group with both, so small CPU-side exchanges never touch the GPU).

What every rank agrees on, and how:
- weights: the same seed builds the same networks, DDP broadcasts rank 0's at wrap time, and
  DDP averages the gradients of each player's backward, so weights stay identical. `same_weights`
  checks it at every log step.
- data: every rank draws the same global permutation and keeps its contiguous slice of each
  global batch (`local_part`); latent noise likewise comes from a generator shared by all ranks,
  drawn for the global batch and sliced. So N ranks see exactly the samples of one process with
  the global batch, and (batch-coupled layers aside) compute the same update.
- `trainer.batch_size` is the global batch, split evenly over the ranks.
- the run folder: rank 0's Hydra makes it; the other ranks are pointed at it before their Hydra
  starts (`follow_main_run_dir`), and write nothing there: rank 0 alone writes checkpoints,
  samples, logs, summary and scores.
Where ranks must differ, they do: the global torch RNG (used inside losses and tricks, e.g.
penalty interpolation, augmentation) is reseeded per rank after the networks are built.

Gradient penalties under DDP: DDP averages gradients from hooks on each parameter's gradient
accumulator, armed by a forward call through the wrapper. A penalty built with
`autograd.grad(..., create_graph=True)` is therefore averaged correctly as long as it is part of
the same backward as a loss that went through the wrapper, whichever module (wrapper or plain)
computed it; a backward of a penalty alone is *not* synchronised (pytorch#47562, #63929). The
trainer guarantees the former: each player's loss terms, penalties and trick terms included,
are summed into one backward, and in the generator phase D is called unwrapped (it gets no
gradient, so its DDP hooks must not be armed).
"""

from __future__ import annotations

import datetime
import inspect
import logging
import os

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from gan_cli.errors import GanError

log = logging.getLogger("gan")

# Rank 0 alone samples and evaluates (FID on many samples can take minutes) while the others
# wait in their next collective: allow for it. A crashed rank still ends the job at once, since
# torchrun (and Slurm) stop every worker when one fails.
TIMEOUT = datetime.timedelta(minutes=60)
RANK_SEED_OFFSET = 7_000_003
# Hydra flags that print something and exit without training: rank 0 alone answers them.
_INFO_FLAGS = ("--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "-i", "--resolve", "--shell-completion", "-sc")

_main_waits_to_share_run_dir = False


# ----------------------------------------------------------------------------- who am I
def launched_world_size() -> int:
    """The number of processes the launcher started (torchrun's WORLD_SIZE), 1 when none."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def is_main() -> bool:
    return rank() == 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def init() -> None:
    """Join the process group if a launcher started several processes (idempotent).

    torchrun exports RANK/WORLD_SIZE/MASTER_ADDR; a submitit job with several tasks (Slurm's
    tasks_per_node) exports them here from the job's environment.
    """
    if dist.is_initialized():
        return
    if "RANK" not in os.environ and os.environ.get("SUBMITIT_EXECUTOR"):
        _export_submitit_environment()
    if launched_world_size() <= 1:
        return
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank() % torch.cuda.device_count())
        backend = "cpu:gloo,cuda:nccl"
    else:
        backend = "gloo"
    dist.init_process_group(backend=backend, timeout=TIMEOUT)
    if not is_main():  # one voice: the other ranks only warn
        log.setLevel(logging.WARNING)


def _export_submitit_environment() -> None:
    import submitit

    if submitit.JobEnvironment().num_tasks > 1:
        # Leave CUDA_VISIBLE_DEVICES as Slurm set it: `device` maps LOCAL_RANK onto what is visible.
        submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def device(requested: torch.device) -> torch.device:
    """This rank's device: cuda means cuda:LOCAL_RANK (or the one GPU Slurm left visible)."""
    if world_size() == 1:
        return requested
    if requested.type == "cuda":
        if requested.index is not None:
            raise GanError(f"device={requested} pins one GPU, but each of the {world_size()} processes needs its own: "
                           "use device=cuda (or auto); LOCAL_RANK picks the GPU")
        return torch.device("cuda", local_rank() % torch.cuda.device_count())
    if requested.type != "cpu":
        raise GanError(f"device={requested}: distributed training runs on cuda (NCCL) or cpu (gloo)")
    return requested


def rank_seed(seed: int) -> int:
    """The seed of this rank's own random stream (penalties, augmentations)."""
    return seed + RANK_SEED_OFFSET * rank()


# ----------------------------------------------------------------------------- data
def local_batch_size(batch_size: int) -> int:
    n = world_size()
    if batch_size % n:
        raise GanError(f"trainer.batch_size={batch_size} is the global batch, split over {n} processes: "
                       f"use a multiple of {n}")
    return batch_size // n


def local_part(x: torch.Tensor | None, shard: tuple[int, int] | None = None) -> torch.Tensor | None:
    """This rank's contiguous slice of a global batch (`shard` = (rank, world size); default: this
    process's)."""
    r, n = shard if shard is not None else (rank(), world_size())
    if x is None or n == 1:
        return x
    size = len(x) // n
    return x[r * size : (r + 1) * size]


def shard() -> tuple[int, int]:
    return rank(), world_size()


# ----------------------------------------------------------------------------- networks
# Newer PyTorch names the option `forward_sync_buffers` (and deprecates the old name).
_NO_BUFFER_BROADCAST = (
    {"forward_sync_buffers": False}
    if "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters
    else {"broadcast_buffers": False}
)


class DDP(DistributedDataParallel):
    """DDP that also answers the wrapped network's own attributes (`D.features`, `G.z_dim`).

    Methods reached this way run on the plain module; their gradients are still averaged if the
    same backward also holds a loss computed through `forward` (see the module docstring).
    """

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "module":  # not wrapped yet (inside DDP's own __init__)
                raise
            return getattr(self.module, name)


def wrap(module: nn.Module, dev: torch.device, sync_batchnorm: bool = False,
         find_unused_parameters: bool = False) -> nn.Module:
    """The module a player trains through: itself alone, DDP when several processes run.

    Batch norm normalises over each rank's slice of the batch unless `sync_batchnorm`, which
    converts it (in place, keeping the parameters) to SyncBatchNorm over the global batch.
    Buffers are not broadcast at every forward: only rank 0's batch-norm statistics are ever
    used (samples, scores, checkpoints), and the broadcast would add a collective to each of
    D's several forwards per step.
    """
    if world_size() == 1:
        return module
    if sync_batchnorm:
        if dev.type != "cuda":
            raise GanError("trainer.sync_batchnorm needs GPUs (SyncBatchNorm has no CPU kernel): "
                           "drop it, or use arch.g_norm/d_norm=layer or none")
        for name, child in module.named_children():
            setattr(module, name, nn.SyncBatchNorm.convert_sync_batchnorm(child))
    return DDP(module, device_ids=[dev.index] if dev.type == "cuda" else None,
               find_unused_parameters=find_unused_parameters, **_NO_BUFFER_BROADCAST)


# ----------------------------------------------------------------------------- agreement
def mean(values: torch.Tensor) -> torch.Tensor:
    """The mean over ranks (logged losses), identical on every rank."""
    if world_size() == 1:
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values / world_size()


def max_int(value: int) -> int:
    """The largest of the ranks' values (e.g. a signal number, 0 for none)."""
    if world_size() == 1:
        return value
    t = torch.tensor([value], dtype=torch.int64)  # CPU: goes through gloo, the GPU never waits
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


def same_weights(**modules: nn.Module) -> None:
    """Refuse to go on if the ranks' weights drifted apart (gradients not averaged somewhere)."""
    if world_size() == 1:
        return
    sums = torch.stack([torch.stack([p.detach().double().sum() for p in m.parameters()]).sum() for m in modules.values()])
    spread = torch.cat([sums, -sums])
    dist.all_reduce(spread, op=dist.ReduceOp.MAX)  # (max, -min) per module
    k = len(sums)
    gap = (spread[:k] + spread[k:]).tolist()
    scale = sums.abs().clamp_min(1.0).tolist()
    for name, g, s in zip(modules, gap, scale):
        if g > 1e-9 * s:
            raise GanError(f"the weights of {name} differ across processes: its gradients were not averaged. "
                           "Compute every loss term of a player in that player's one backward (see gan_cli/distributed.py)")


def gather(obj) -> list | None:
    """Every rank's `obj`, as a list on rank 0 (None on the others)."""
    if world_size() == 1:
        return [obj]
    out = [None] * world_size() if is_main() else None
    dist.gather_object(obj, out, dst=0)
    return out


def own_rng_state(saved: dict, per_rank: list | None) -> dict | None:
    """The RNG state this rank resumes with: its own when the checkpoint has one per rank for
    this many ranks; rank 0's alone when not distributed; None (reseed) otherwise."""
    if world_size() == 1:
        return saved
    if per_rank is not None and len(per_rank) == world_size():
        return per_rank[rank()]
    return None


# ----------------------------------------------------------------------------- the run folder
def follow_main_run_dir(args: list[str]) -> list[str]:
    """Under torchrun, before Hydra starts: join the group; ranks other than 0 wait for rank 0's
    run folder and run their Hydra there without writing to it (no .hydra/, no log file), so no
    rank makes a folder of its own (each would otherwise compute its own `${now:...}`)."""
    global _main_waits_to_share_run_dir
    if launched_world_size() <= 1:
        return args
    if any(a in _INFO_FLAGS for a in args):  # nothing to train: rank 0 answers alone
        if int(os.environ.get("RANK", "0")) != 0:
            raise SystemExit(0)
        return args
    if "--multirun" in args or "-m" in args:
        raise GanError("--multirun under torchrun would start one sweep per process: run the sweep with "
                       "hydra/launcher=submitit_slurm (tasks_per_node = GPUs per job) instead, see docs/cluster.md")
    init()
    if is_main():
        _main_waits_to_share_run_dir = True
        return args
    objects = [None]
    dist.broadcast_object_list(objects, src=0)
    run_dir = str(objects[0]).replace("\\", "\\\\").replace("'", "\\'")
    args = [a for a in args if not a.startswith(("hydra.run.dir=", "hydra.output_subdir="))]
    return [*args, f"hydra.run.dir='{run_dir}'", "hydra.output_subdir=null",
            "hydra/job_logging=none", "hydra/hydra_logging=none"]


def share_run_dir(run_dir) -> None:
    """Rank 0, once Hydra made the run folder: tell the ranks waiting in `follow_main_run_dir`."""
    global _main_waits_to_share_run_dir
    if _main_waits_to_share_run_dir:
        _main_waits_to_share_run_dir = False
        dist.broadcast_object_list([str(run_dir)], src=0)
