"""`gan <command> [hydra overrides]`: dispatch only.

Each command is a Hydra application with its own top-level config (conf/<command>.yaml), so
every command takes overrides and Hydra's own flags (`--multirun`, `--cfg job`, `--help`).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

COMMANDS = {
    "train": "train a GAN and write a run folder under outputs/",
    "eval": "score checkpoints or sample sets (FID, IS, KID, precision/recall, mode counts)",
    "sample": "write images (or 2-D points) from a checkpoint to a folder or an .npz",
    "report": "compare runs of a sweep: report.html (table, curves, samples), CSV/Markdown, plots; --watch",
    "classifier": "train the domain classifier used as a feature extractor for MNIST-like data",
}

USAGE = "usage: gan <command> [overrides...] [--multirun] [--cfg job] [--help]"


def config_dir() -> str:
    """The folder holding train.yaml & co.

    Installed from a wheel, conf/ ships inside the package as gan_cli/conf; in a source checkout
    (editable install, or PYTHONPATH) it is the top-level conf/ beside gan_cli/.
    """
    package = Path(__file__).resolve().parent
    for candidate in (package / "conf", package.parent / "conf"):
        if (candidate / "train.yaml").is_file():
            return str(candidate)
    raise SystemExit("error: gan's config folder (conf/) is missing: reinstall the package")


def print_help() -> None:
    print(USAGE)
    print()
    print("commands:")
    for name, text in COMMANDS.items():
        print(f"  {name:<11} {text}")
    print()
    print("`gan <command> --help` lists that command's config groups and options.")
    print("examples:")
    print("  gan train dataset=ring arch=mlp loss=wgan_gp trainer.steps=2000")
    print("  gan train --multirun loss=ns,wgan_gp,hinge seed=0,1,2")
    print("  gan eval checkpoint=outputs/<run>/checkpoints/final.pt")
    print()
    print("exit codes: 0 done; 1 diverged or failed (a sweep: any of its jobs); 2 bad input;")
    print("            130 / 143 stopped by Ctrl-C / SIGTERM after writing a checkpoint (gan train resume=<run>)")


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print_help()
        return
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"error: unknown command '{command}'. {USAGE}", file=sys.stderr)
        raise SystemExit(2)
    if "--verbose" in rest:  # our flag: full tracebacks for debugging
        rest.remove("--verbose")
        os.environ["HYDRA_FULL_ERROR"] = "1"
    if command == "train":
        rest = _resume_in_place(rest)
        rest = _under_torchrun(rest)
    if command == "report":
        rest = _report_dir(rest)
    if command == "sample":  # `class` is a Python keyword, so the config field is `label`
        rest = [f"label={a[len('class='):]}" if a.startswith("class=") else a for a in rest]
    _check_launcher(rest)
    # Hydra parses sys.argv itself; make it see `gan <command>` as the program name.
    sys.argv = [f"gan {command}", *rest]
    from gan_cli import apps

    apps.run(command, config_dir())


def _resume_in_place(args: list[str]) -> list[str]:
    """`resume=DIR` continues in DIR itself: Hydra must neither make a new folder nor overwrite
    the run's saved config."""
    for arg in args:
        if arg.startswith("resume=") and arg != "resume=null":
            run_dir = arg.split("=", 1)[1]
            return [*args, f"hydra.run.dir={run_dir}", "hydra.output_subdir=null"]
    return args


# Hydra's flags that take a value (`--cfg job`): that value is not the report's folder.
_HYDRA_VALUE_FLAGS = {"--cfg", "-c", "--package", "-p", "--config-path", "-cp", "--config-name", "-cn",
                      "--config-dir", "-cd", "--info", "-i", "--experimental-rerun"}


WATCH_SECONDS = 30  # `gan report --watch DIR`: a sweep's runs evaluate every few minutes at most


def _report_dir(args: list[str]) -> list[str]:
    """`gan report DIR`: the bare folder becomes `dir='DIR'`, quoted because Hydra's job folders
    are named like `0_loss=ns,seed=0` and Hydra would read `=` and `,` as syntax."""
    out = []
    for i, arg in enumerate(args):
        if arg == "--watch" or arg.startswith("--watch="):  # our flag: regenerate every N seconds
            out.append(f"watch={arg.partition('=')[2] or WATCH_SECONDS}")
            continue
        flag_value = i > 0 and args[i - 1] in _HYDRA_VALUE_FLAGS
        if not flag_value and not arg.startswith("-") and ("=" not in arg or Path(arg).exists()):
            # In Hydra's quoted strings only backslashes before a quote (or the end) are escapes.
            quoted = re.sub(r"(\\+)(?='|$)", r"\1\1", arg).replace("'", "\\'")
            arg = f"dir='{quoted}'"
        out.append(arg)
    return out


def _check_launcher(args: list[str]) -> None:
    """hydra/launcher=slurm|local (conf/hydra/launcher/) need the optional submitit plugin, and
    a sweep sent to Slurm needs a Slurm that answers: both said in one line before any job."""
    import importlib.util

    for arg in args:
        if arg.startswith("hydra/launcher=") and arg.split("=", 1)[1] in ("slurm", "local", "submitit_slurm", "submitit_local"):
            try:  # find_spec raises, rather than answers None, when no Hydra plugin is installed at all
                found = importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is not None
            except ModuleNotFoundError:
                found = False
            if not found:
                print(f"error: {arg} needs Hydra's submitit launcher: pip install 'gan-cli[slurm]'", file=sys.stderr)
                raise SystemExit(2)
            if arg.split("=", 1)[1] in ("slurm", "submitit_slurm") and ("-m" in args or "--multirun" in args):
                problem = _slurm_problem()
                if problem:
                    print(f"error: {arg}: {problem}", file=sys.stderr)
                    raise SystemExit(2)


def _slurm_problem() -> str | None:
    """Why sbatch would fail here, or None: no Slurm commands, or no controller answering."""
    import shutil
    import subprocess

    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        return "Slurm's sbatch and sinfo are not on PATH: run the sweep on a machine of the cluster (a login node)"
    try:
        probe = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "Slurm is not reachable (sinfo did not answer in 30 s): check that slurmctld is running"
    if probe.returncode != 0:
        why = next((line.strip() for line in probe.stderr.splitlines() if line.strip()), f"exit code {probe.returncode}")
        return f"Slurm is not reachable (sinfo: {why}): check that slurmctld is running and slurm.conf points to it"
    return None


def _under_torchrun(args: list[str]) -> list[str]:
    """Several processes started by torchrun share rank 0's run folder (gan_cli/distributed.py)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return args
    from gan_cli import distributed
    from gan_cli.errors import GanError

    try:
        return distributed.follow_main_run_dir(args)
    except GanError as e:
        if os.environ.get("RANK", "0") == "0":
            print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
