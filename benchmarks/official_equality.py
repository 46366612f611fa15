"""How far our StyleGAN2 and BigGAN outputs are from the official code's, on the fixtures of
tests/fixtures/ (weights, inputs and outputs written by tests/fixtures/make_official_fixtures.py).

The tests assert these differences are below 1e-5; this prints them, with the outputs' largest
magnitudes for scale. The last line is a JSON object.

    python benchmarks/official_equality.py [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests package: key maps and loaders


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from tests import test_archs_biggan as biggan
    from tests import test_archs_stylegan2 as stylegan2

    out = {}
    f, G, D = stylegan2.official.__wrapped__()
    with torch.no_grad():
        out["stylegan2"] = {"G": max_diff(stylegan2.g_out(G, f), f["G_out"]),
                            "G_truncation_0.7": max_diff(stylegan2.g_out(G, f, 0.7), f["G_out_truncated"]),
                            "D": max_diff(D(f["x"], f["y"]), f["D_out"]),
                            "max_abs_G": float(f["G_out"].abs().max()), "max_abs_D": float(f["D_out"].abs().max())}
    f, G, D = biggan.official.__wrapped__()
    with torch.no_grad():
        out["biggan"] = {"G_eval": max_diff(biggan.g_out(G, f), f["G_out_eval"]),
                         "G_batch_statistics": max_diff(biggan.g_out(G, f, batch_statistics=True), f["G_out_train"]),
                         "D": max_diff(D(f["x"], f["y"]), f["D_out_eval"]),
                         "max_abs_G": float(f["G_out_eval"].abs().max()), "max_abs_D": float(f["D_out_eval"].abs().max())}
    for name, row in out.items():
        print(name, ", ".join(f"{k} {v:.3g}" for k, v in row.items()))
    print(json.dumps({"threads": args.threads, "torch": torch.__version__, **out}))


if __name__ == "__main__":
    main()
