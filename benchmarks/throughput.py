"""Training throughput and peak memory of each architecture at batch 64.

Each case is one `Trainer.fit` (the real step: NS loss, Adam, logging every 50 steps, no samples,
checkpoints or scores) timed over `--steps` steps after a warm-up (fewer for archs that take more
than 10 s for them), median of `--repeats`. Every
case runs in a fresh subprocess so that its peak memory is its own:
- CPU: peak resident memory of the process (`ru_maxrss`), and the part of it the training
  added on top of the built trainer (networks, optimizers, data in memory, torch itself);
- CUDA: `torch.cuda.max_memory_allocated` during the timed steps.

Image archs train on Fashion-MNIST (resized to 32x32 for resnet and progan, which has no effect on
the cost of anything but the first layer's input); data sits in memory, as for the default run.
The last line printed is a JSON object with one entry per case.

    python benchmarks/throughput.py [--steps 100] [--repeats 3] [--device cpu|cuda] [--cases ...]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

import torch

# (overrides, what to call the case in the table)
CASES = {
    "mlp_ring": ["dataset=ring", "arch=mlp"],
    "mlp_fashion_mnist": ["dataset=fashion_mnist", "arch=mlp", "arch.z_dim=100",
                          "arch.g_hidden=[256,512,1024]", "arch.d_hidden=[1024,512,256]"],
    "default_recipe": [],  # `gan train`: conditional DCGAN, width 32, on Fashion-MNIST
    # the same in float32 and NCHW: what bf16 autocast (amp=auto on CPUs with native bf16) and
    # channels_last gain
    "default_recipe_fp32": ["trainer.amp=off", "trainer.channels_last=false"],
    "dcgan32_fashion_mnist": ["dataset=fashion_mnist", "arch=dcgan", "arch.width=32", "dataset.conditional=false"],
    "dcgan64_fashion_mnist": ["dataset=fashion_mnist", "arch=dcgan", "arch.width=64", "dataset.conditional=false"],
    "resnet_32px": ["dataset=fashion_mnist", "dataset.resolution=32", "arch=resnet"],
    "progan_32px": ["dataset=fashion_mnist", "dataset.resolution=32", "arch=progan", "arch.width=128",
                    "arch.grow.start_resolution=32"],
    # stylegan2-ada-pytorch's `cifar` config (mapping 2 layers, D without shortcuts, mbstd 32) at a
    # quarter of its width (channel_max 128, not 512: the full one is ~16x the work, minutes a step
    # on two cores), and the networks of BigGAN-PyTorch's CIFAR-10 script (width 64, conditional)
    "stylegan2_32px": ["dataset=fashion_mnist", "dataset.resolution=32", "arch=stylegan2", "arch.mapping_layers=2",
                       "arch.channel_max=128", "arch.d_architecture=orig", "arch.mbstd_group_size=32",
                       "arch.style_mixing=0"],
    "biggan_32px": ["dataset=fashion_mnist", "dataset.resolution=32", "arch=biggan", "arch.width=64", "arch.z_dim=128",
                    "arch.shared_dim=0", "arch.hierarchical=false", "arch.attention=0", "dataset.conditional=true"],
}


def rss_mb() -> float:
    """Resident memory of this process now (Linux /proc)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def run_case(name: str, steps: int, repeats: int, device: str, seconds_per_repeat: float = 10.0) -> dict:
    sys.path.insert(0, str(Path(__file__).parent))
    from overhead import make_trainer, time_ours  # the same Trainer set-up as the overhead benchmark

    from gan_cli.apps import register_resolvers
    from gan_cli.config import register_configs

    register_configs()
    register_resolvers()
    with tempfile.TemporaryDirectory() as tmp:
        overrides = CASES[name] + (["loss=ns", "tricks=[]"] if CASES[name] else [])
        trainer = make_trainer(overrides, Path(tmp) / name, device=device)
        cuda = trainer.device.type == "cuda"
        warm = time_ours(trainer, 5)  # warm-up; slow archs (resnet: seconds a step on a CPU) take fewer steps
        steps = max(3, min(steps, int(seconds_per_repeat / warm)))
        before = rss_mb()
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        times = [time_ours(trainer, steps) for _ in range(repeats)]
        per_step = statistics.median(times)
        batch = trainer.cfg.trainer.batch_size
        result = {
            "images_per_s": round(batch / per_step, 1),
            "ms_per_step": round(1000 * per_step, 2),
            "steps_timed": steps,
            "g_params_m": round(sum(p.numel() for p in trainer.G.parameters()) / 1e6, 3),
            "d_params_m": round(sum(p.numel() for p in trainer.D.parameters()) / 1e6, 3),
        }
        if cuda:
            result["peak_allocated_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
            result["peak_rss_mb"] = round(peak, 1)
            result["rss_before_steps_mb"] = round(before, 1)
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cases", nargs="*", default=list(CASES))
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one case in this process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_case(args.one, args.steps, args.repeats, args.device)))
        return
    results = {}
    for name in args.cases:
        cmd = [sys.executable, __file__, "--one", name, "--steps", str(args.steps),
               "--repeats", str(args.repeats), "--device", args.device]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{name}: failed\n{out.stderr.strip().splitlines()[-1]}", flush=True)
            continue
        results[name] = json.loads(out.stdout.strip().splitlines()[-1])
        memory = results[name].get("peak_allocated_mb", results[name].get("peak_rss_mb"))
        print(f"{name}: {results[name]['images_per_s']} img/s, {results[name]['ms_per_step']} ms/step, "
              f"peak memory {memory} MB", flush=True)
    print(json.dumps({
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, {platform.processor() or 'cpu'}",
        "device": args.device,
        "torch": torch.__version__,
        "batch_size": 64,
        "steps": args.steps,
        "repeats": args.repeats,
        "cases": results,
    }))


if __name__ == "__main__":
    main()
