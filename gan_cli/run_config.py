"""The config a run trains with: where it is saved, and the one way `resume`, `gan eval`,
`gan sample` and `gan report` read it.

It is saved in two places, each the record of something different:
- the run folder's .hydra/config.yaml (SAVED_CONFIG): written by Hydra when the run starts and
  rewritten by `resume` with the overrides the resume was given (overrides.yaml lists every
  override the run has had). The run's config now: what the next resume continues with.
- every checkpoint's "config": the config the networks in that file were built with, with the
  automatic choices filled in (arch.d_norm=auto -> layer, ...).

Precedence, one rule: whatever concerns a checkpoint (rebuilding its networks, its seed, its
arch) reads the checkpoint's own config, since a later resume may have moved the folder's file on;
whatever concerns the run as a whole (resume, the report) reads the folder's file.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

# relative to the run folder
SAVED_CONFIG = Path(".hydra") / "config.yaml"
SAVED_OVERRIDES = Path(".hydra") / "overrides.yaml"


def saved_config_path(run_dir: Path) -> Path:
    return Path(run_dir) / SAVED_CONFIG


def run_config(source: dict | Path) -> DictConfig:
    """The config of a loaded checkpoint (checkpoint.safe_load's dict) or of a run folder, in
    today's keys (configs saved by older versions are brought up to date, see `_upgrade`)."""
    if isinstance(source, dict):
        return _upgrade(OmegaConf.create(source["config"]))
    return _upgrade(OmegaConf.load(saved_config_path(source)))


def _upgrade(cfg: DictConfig) -> DictConfig:
    """Keys that older versions saved and this one has not:
    - arch.d_spectral_norm (null: the resnet variant's choice, on for sngan): spectral norm of
      resnet's D is tricks.spectral_norm now, and it builds D exactly as the old switch did;
    - arch.extra: a free-form section nothing read."""
    arch = cfg.get("arch")
    if not isinstance(arch, DictConfig):
        return cfg
    with open_dict(cfg):
        arch.pop("extra", None)
        if "d_spectral_norm" not in arch:
            return cfg
        on = arch.pop("d_spectral_norm")
        if on is None:
            on = (arch.get("variant") or "sngan") == "sngan"
        if on and arch.get("name") == "resnet":  # other archs never read the switch
            trick = cfg.setdefault("tricks", {}).get("spectral_norm")
            if trick is None:
                cfg.tricks.spectral_norm = {"networks": "d", "power_iterations": 1}
            elif trick.get("networks") == "g":  # the trick normalised G and the switch D
                trick.networks = "both"
    return cfg


def save_resumed_config(run_dir: Path, config_yaml: str, overrides: list[str]) -> None:
    """A resume's config (the saved one with `overrides` on top) becomes the run's config, and
    overrides.yaml lists the run's overrides with these replacing earlier ones of the same key."""
    _atomic_write(saved_config_path(run_dir), config_yaml)
    path = Path(run_dir) / SAVED_OVERRIDES
    before = [str(o) for o in (OmegaConf.load(path) if path.is_file() else [])]
    keys = {o.lstrip("+").split("=", 1)[0] for o in overrides}
    merged = [o for o in before if o.lstrip("+").split("=", 1)[0] not in keys] + list(overrides)
    _atomic_write(path, OmegaConf.to_yaml(OmegaConf.create(merged)))


def _atomic_write(path: Path, text: str) -> None:
    # a run trained in-process (Trainer(cfg, run_dir), benchmarks/) has no .hydra/ until a resume
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
