"""The meaning checks of a `gan train` job, made before Hydra creates its run folder.

The schema checks types and config_ranges each number; what is left are the facts only the
building code knows: the device exists, the optimizers accept their settings, the dataset is
there, the networks can be built with this norm, this loss and these tricks together, and for
`resume=` that the folder is a run that can be continued. Each is checked here by calling the
same code the trainer calls (never a second copy of its rules), on the CPU, with the networks
built on PyTorch's "meta" device so that no weight is allocated. config_check runs this for
every job of a sweep before the first one starts.
"""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from gan_cli.errors import GanError
from gan_cli.run_config import run_config, saved_config_path
from gan_cli.run_status import read_summary, status_of


class TrainPreflight:
    """Checks `gan train` jobs; datasets and network builds already checked are remembered, so a
    sweep over seeds or learning rates costs one build."""

    def __init__(self, fetch_data: bool = True):
        # fetch_data=False (`--cfg job`, which prints and runs nothing): no dataset is downloaded,
        # and where one is not here yet the network build is skipped
        self.fetch_data = fetch_data
        self._specs: dict[str, object] = {}
        self._built: set[str] = set()

    def check(self, cfg: DictConfig, overrides: list[str] = ()) -> None:
        if cfg.get("resume"):
            groups = set(cfg.hydra.runtime.choices) if "hydra" in cfg else set()
            cfg = resumed_config(Path(str(cfg.resume)).expanduser(), overrides, groups)
        elif "hydra" in cfg:
            cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
        import torch

        from gan_cli.optim import build_optimizer
        from gan_cli.runtime import autocast_dtype, resolve_device, use_channels_last

        device = resolve_device(cfg.device)
        autocast_dtype(cfg.trainer.amp, device)
        use_channels_last(cfg.trainer.channels_last, device, False)
        weight = [torch.nn.Parameter(torch.zeros(1))]
        for who in ("g", "d"):
            build_optimizer(cfg.optim[who], weight, torch.device("cpu"))
        from gan_cli.loggers import logger_names

        logger_names(cfg.logger)  # a name or a list of known names (logger=[tensorboard,mlflow])
        spec = self._data_spec(cfg.dataset)
        if spec is not None:
            self._build(cfg, spec)

    def _data_spec(self, dataset_cfg):
        """Finds the data (the same loader as training; image folders are listed, not decoded)."""
        from gan_cli.data import build_dataset, data_spec

        key = json.dumps(OmegaConf.to_container(dataset_cfg, resolve=True), sort_keys=True)
        if key not in self._specs:
            light = OmegaConf.create(OmegaConf.to_container(dataset_cfg, resolve=True))
            if light.name in ("folder", "celeba"):
                light.in_memory = "false"
            if not self.fetch_data:
                light.download = False
            try:
                self._specs[key] = data_spec(build_dataset(light))
            except GanError:
                if self.fetch_data or not dataset_cfg.download:
                    raise
                self._specs[key] = None  # not here yet; the run would download it
        return self._specs[key]

    def _build(self, cfg, spec) -> None:
        """Networks, loss and tricks as the trainer builds them, on the meta device."""
        import torch

        from gan_cli.build import build_networks

        parts = {k: OmegaConf.to_container(cfg[k], resolve=True) for k in ("dataset", "arch", "loss", "tricks")}
        key = json.dumps(parts, sort_keys=True, default=str)
        if key in self._built:
            return
        work = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
        OmegaConf.set_struct(work, False)
        with open_dict(work), torch.device("meta"):
            build_networks(work, spec, "meta")
        self._built.add(key)


# ----------------------------------------------------------------------------- resume
def resume_target(run_dir: Path) -> tuple[Path, Path]:
    """The saved config and last checkpoint of `resume=DIR`, or one line saying what is wrong."""
    if run_dir.is_file():
        hint = run_dir.parent.parent if run_dir.parent.name == "checkpoints" else run_dir.parent
        raise GanError(f"resume={run_dir} is a file: give the run folder, e.g. resume={hint}")
    if not run_dir.is_dir():
        raise GanError(f"resume={run_dir}: there is no such folder; give a run folder under outputs/")
    saved = saved_config_path(run_dir)
    last = run_dir / "checkpoints" / "last.pt"
    if not saved.is_file():
        raise GanError(f"resume={run_dir}: no saved config ({saved}); is it a `gan train` run folder?")
    if not last.is_file():
        raise GanError(f"resume={run_dir}: no checkpoint yet ({last}); start the run again instead")
    return saved, last


def resume_overrides(overrides: list[str]) -> list[str]:
    """The overrides that change the resumed run (not `resume=` itself nor Hydra's own)."""
    return [o for o in overrides if o and not o.startswith(("resume=", "hydra.", "hydra/", "+hydra."))]


def resumed_config(run_dir: Path, overrides: list[str], groups: set[str]) -> DictConfig:
    """The run's saved config with the resume's overrides on top, checked as a fresh run's is."""
    from gan_cli.config import TrainConfig
    from gan_cli.config_ranges import check_ranges

    resume_target(run_dir)
    changed = [o for o in resume_overrides(overrides) if o.lstrip("+~").split("=")[0] in groups]
    if changed:
        raise GanError(f"resume continues the saved config; {changed[0]} changes a config group: start a new run instead")
    try:
        cfg = OmegaConf.merge(OmegaConf.structured(TrainConfig), run_config(run_dir),
                              OmegaConf.from_dotlist([o.lstrip("+") for o in resume_overrides(overrides)]))
    except Exception as e:  # the saved file was edited by hand, or an override's type is wrong
        raise GanError(f"resume={run_dir}: {str(e).splitlines()[0]}") from e
    check_ranges(cfg)
    check_finished(run_dir, cfg, resume_overrides(overrides))
    return cfg


def check_finished(run_dir: Path, cfg, overrides: list[str]) -> None:
    """Continuing a finished run needs an explicit, larger trainer.steps: otherwise it would train
    on silently (to a trainer.steps saved before) or overwrite final.pt with the same step."""
    summary = read_summary(run_dir)
    if status_of(summary) != "finished":
        return
    done = int(summary.get("steps") or 0)
    asked = any(o.lstrip("+").startswith("trainer.steps=") for o in overrides)
    if not asked or cfg.trainer.steps <= done:
        raise GanError(f"resume={run_dir}: the run already finished {done} steps; to train it further pass a "
                       f"larger trainer.steps, e.g. trainer.steps={2 * max(done, 1)}")

