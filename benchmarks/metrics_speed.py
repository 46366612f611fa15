"""Time Inception feature extraction and FID: ours vs torch-fidelity and pytorch-fid, same inputs.

    python benchmarks/metrics_speed.py                    # CPU, seeded random Inception weights
    python benchmarks/metrics_speed.py --device cuda --n 2000 --batch 200
    python benchmarks/metrics_speed.py --weights pt_inception-2015-12-05-6726825d.pth

Prints seconds per 1000 images for each extractor and seconds per FID (2048-d statistics of
--fid-n samples), with the ratio reference / ours (> 1: ours is faster). The features of all
three are checked to agree before anything is timed. Timings are only meaningful on a quiet
machine: run it alone.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan_cli.metrics.fid import frechet_distance, statistics  # noqa: E402
from gan_cli.metrics.inception import InceptionExtractor, random_tf_inception_state  # noqa: E402


def timed(fn, device: torch.device, repeat: int = 1) -> float:
    """Best wall time of `repeat` calls, synchronising the GPU around each."""
    best = float("inf")
    for _ in range(repeat):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--n", type=int, default=100, help="images timed per extractor")
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--size", type=int, default=32, help="side of the (random) input images")
    parser.add_argument("--fid-n", type=int, default=5000, help="samples behind each FID's statistics")
    parser.add_argument("--weights", help="real Inception weights (default: seeded random ones)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from pytorch_fid.fid_score import calculate_frechet_distance
    from pytorch_fid.inception import InceptionV3
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    from torch_fidelity.metric_fid import fid_statistics_to_metric

    device = torch.device(args.device)
    tmp = Path(tempfile.mkdtemp(prefix="gan_bench_"))
    weights = Path(args.weights) if args.weights else tmp / "weights.pth"
    if not args.weights:
        torch.save(random_tf_inception_state(0), weights)
    hub = tmp / "hub" / "checkpoints"  # where pytorch-fid looks for its file
    hub.mkdir(parents=True)
    os.symlink(weights.resolve(), hub / "pt_inception-2015-12-05-6726825d.pth")
    os.environ["TORCH_HOME"] = str(tmp)

    ours = InceptionExtractor(weights, "tf1", device)
    fidelity = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(weights))
    fidelity = fidelity.to(device)
    pytorch_fid = InceptionV3([3]).to(device).eval()
    images = torch.randint(0, 256, (args.n, 3, args.size, args.size), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    batches = [b.to(device) for b in images.split(args.batch)]

    def run_ours():
        return torch.cat([ours(b)[0] for b in batches])

    @torch.no_grad()
    def run_fidelity():
        return torch.cat([fidelity(b)[0] for b in batches])

    @torch.no_grad()
    def run_pytorch_fid():
        return torch.cat([pytorch_fid(b.float() / 255)[0].flatten(1) for b in batches])

    print(f"device {device}, {args.n} images of {args.size}x{args.size} in batches of {args.batch}, "
          f"{'real' if args.weights else 'random'} weights, torch threads {torch.get_num_threads()}")
    if not torch.equal(run_ours().cpu(), run_fidelity().cpu()):
        print("warning: features differ from torch-fidelity's (expected only on GPUs: TF32 or kernel choice)")
    ours_pytorch_fid = InceptionExtractor(weights, "pytorch_fid", device)
    gap = (torch.cat([ours_pytorch_fid(b)[0] for b in batches]) - run_pytorch_fid()).abs().max().item()
    print(f"max |ours (pytorch_fid preprocessing) - pytorch-fid| = {gap:.2e}")

    per_k = 1000 / args.n
    t_ours = timed(run_ours, device, args.repeat) * per_k
    rows = [("features: ours (tf1)", t_ours, None),
            ("features: torch-fidelity", timed(run_fidelity, device, args.repeat) * per_k, t_ours),
            ("features: pytorch-fid", timed(run_pytorch_fid, device, args.repeat) * per_k, t_ours)]

    rng = np.random.default_rng(0)
    mix = rng.standard_normal((2048, 2048)) / 45
    f1 = rng.standard_normal((args.fid_n, 2048)) @ mix
    f2 = rng.standard_normal((args.fid_n, 2048)) @ mix + 0.1
    (mu1, s1), (mu2, s2) = statistics(f1), statistics(f2)
    fid_ours = timed(lambda: frechet_distance(mu1, s1, mu2, s2), torch.device("cpu"), args.repeat)
    fid_fidelity = timed(lambda: fid_statistics_to_metric({"mu": mu1, "sigma": s1}, {"mu": mu2, "sigma": s2}, False),
                         torch.device("cpu"), args.repeat)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fid_pytorch_fid = timed(lambda: calculate_frechet_distance(mu1, s1, mu2, s2), torch.device("cpu"), args.repeat)
        except TypeError:  # SciPy >= 1.18 removed sqrtm's `disp`
            fid_pytorch_fid = float("nan")
    rows += [("FID from statistics: ours (nuclear norm)", fid_ours, None),
             ("FID: torch-fidelity (complex eigvals)", fid_fidelity, fid_ours),
             ("FID: pytorch-fid (scipy sqrtm)", fid_pytorch_fid, fid_ours)]
    value = frechet_distance(mu1, s1, mu2, s2)
    reference = fid_statistics_to_metric({"mu": mu1, "sigma": s1}, {"mu": mu2, "sigma": s2}, False)
    print(f"FID {value:.10g} vs torch-fidelity {reference['frechet_inception_distance']:.10g} "
          f"({args.fid_n} samples each, 2048-d)")

    print(f"\n{'':40s} {'seconds':>10s} {'ratio':>8s}")
    for name, seconds, base in rows:
        unit = " /1k img" if name.startswith("features") else " /FID"
        ratio = f"{seconds / base:8.2f}" if base else f"{'1.00':>8s}"
        print(f"{name:40s} {seconds:10.3f} {ratio}{unit}")
    print("\nratio = reference time / our time (> 1: ours is faster); measure on a quiet machine.")


if __name__ == "__main__":
    main()
