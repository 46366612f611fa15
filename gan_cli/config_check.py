"""Checking a command line's overrides before any work starts, each problem as one line.

Hydra composes the config only when the run starts and reports problems in several lines, some
misleading ("Could not override 'trainer.stepz'. To append to your config use
+trainer.stepz=5", when appending an unknown key is just as wrong). Here the config is composed
first with Hydra's own compose API and override parser, and each failure becomes a GanError
naming the key or option at fault, the fix and, where one is close, a did-you-mean. Each
composed config then has its numbers checked against their ranges (config_ranges) and, for
`gan train`, its meaning (preflight: device, optimizers, data, networks, resume folder). A sweep
(--multirun) is checked job by job, every combination Hydra's basic sweeper will run, before the
first job starts. `--cfg job` is checked as a run is; Hydra's other flags (--help, --info, shell
completion, other config folders) skip the check and behave as Hydra documents.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import re

from hydra import compose, initialize_config_dir
from hydra._internal.utils import get_args_parser
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import MissingConfigException, OverrideParseException
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError

from gan_cli.config_ranges import check_ranges
from gan_cli.errors import GanError
from gan_cli.metrics.settings import check_metrics_settings
from gan_cli.models import check_arch_knobs

# Flags with which Hydra prints something instead of running: left entirely to Hydra.
HYDRA_ONLY_FLAGS = ("help", "hydra_help", "info", "shell_completion", "config_path", "config_name",
                    "config_dir", "experimental_rerun")
GRAMMAR = "https://hydra.cc/docs/advanced/override_grammar/basic/"
# Keys that are gone, and the way to say the same thing now.
REMOVED_KEYS = {
    "arch.d_spectral_norm": "spectral norm is a trick: tricks=[spectral_norm] normalises D (arch=resnet selects it; "
                            "tricks.spectral_norm=null drops it)",
}


def check_command_line(config_name: str, conf_dir: str, argv: list[str], preflight=None) -> None:
    """Raise GanError for the first override that cannot be composed into a valid config.

    `preflight`: a TrainPreflight to reuse (it remembers the datasets and networks it checked)."""
    try:
        args = get_args_parser().parse_args(argv)
    except SystemExit:
        return  # not a command line Hydra accepts: it says so itself
    if any(getattr(args, flag, None) for flag in HYDRA_ONLY_FLAGS):
        return
    with initialize_config_dir(config_dir=conf_dir, version_base=None):
        checker = OverrideChecker(config_name)
        if config_name == "train" and preflight is None:
            from gan_cli.preflight import TrainPreflight

            preflight = TrainPreflight(fetch_data=not args.cfg)
        preflight = preflight if config_name == "train" else None
        jobs = checker.jobs(args.overrides, args.multirun)
        shared = set.intersection(*(set(job) for job in jobs)) if jobs else set()
        for overrides in jobs:
            cfg = checker.compose(overrides)
            if preflight is not None:
                try:
                    preflight.check(cfg, overrides)
                except GanError as e:
                    swept = " ".join(o for o in overrides if o and o not in shared)
                    raise GanError(f"sweep job {swept}: {e}" if swept else str(e)) from e


class OverrideChecker:
    def __init__(self, config_name: str):
        self.config_name = config_name
        self.loader = GlobalHydra.instance().config_loader()
        self.parser = OverridesParser.create(config_loader=self.loader)
        self._defaults: DictConfig | None = None

    # ------------------------------------------------------------------ which configs to compose
    def jobs(self, args: list[str], multirun: bool) -> list[list[str]]:
        """The override lists to compose: the command line itself, or for a sweep every job the
        basic sweeper will run (the product of the swept values): a combination may be refused
        when each of its values alone is fine (loss=wgan_gp with arch.d_norm=batch)."""
        parsed = self.parse(args)
        if not multirun:
            return [args]
        base = self.compose([self._first_value(o) for o in parsed])
        params = OmegaConf.select(base, "hydra.sweeper.params", default=None)
        if isinstance(params, DictConfig):  # sweeps written in a config file (Hydra 1.2+)
            parsed = self.parse([f"{k}={v}" for k, v in params.items()]) + parsed
        choices: dict[str, list[str]] = {}
        for override in parsed:
            key = override.get_key_element()
            if not override.is_sweep_override():
                choices[key] = [f"{key}={override.get_value_element_as_str()}"]
            elif override.is_discrete_sweep():
                choices[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]
            else:
                choices.pop(key, None)  # intervals belong to optimising sweepers: they check them
        return [list(job) for job in itertools.product(*choices.values())]

    def _first_value(self, override: Override) -> str:
        key = override.get_key_element()
        if override.is_sweep_override() and override.is_discrete_sweep():
            return f"{key}={next(iter(override.sweep_string_iterator()))}"
        if override.is_sweep_override():
            return ""
        return f"{key}={override.get_value_element_as_str()}"

    def parse(self, args: list[str]) -> list[Override]:
        try:
            return self.parser.parse_overrides(args)
        except OverrideParseException:
            for arg in args:
                try:
                    self.parser.parse_overrides([arg])
                except OverrideParseException as e:
                    raise GanError(f"cannot read the override {arg!r}: {_first_line(e)} (see {GRAMMAR})") from e
            raise

    # ------------------------------------------------------------------ composing and explaining
    def compose(self, overrides: list[str]) -> DictConfig:
        overrides = [o for o in overrides if o]
        try:
            cfg = compose(self.config_name, overrides=overrides, return_hydra_config=True)
        except Exception as e:
            raise self.explain(e, overrides) from e
        self._check_added_keys(cfg, overrides)
        self._check_missing(cfg)
        if isinstance(cfg.get("metrics"), DictConfig):
            check_metrics_settings(cfg.metrics)
        if isinstance(cfg.get("arch"), DictConfig) and cfg.arch.get("name"):
            check_arch_knobs(cfg.arch)
        check_ranges(cfg)
        return cfg

    def explain(self, e: Exception, overrides: list[str]) -> GanError:
        if isinstance(e, OverrideParseException):
            self.parse(overrides)  # names the override
        if isinstance(e, MissingConfigException):
            found = re.search(r"Could not (?:find|load) '([^']+)'", str(e))
            if found and "/" in found.group(1):
                group, option = found.group(1).rsplit("/", 1)
                return self.unknown_option(group, option, getattr(e, "options", None))
        cause = e.__cause__
        if isinstance(cause, (ConfigAttributeError, ConfigKeyError)) and cause.full_key:
            return self.unknown_key(cause.full_key, cause.object_type, overrides)
        if isinstance(cause, ValidationError) and cause.full_key:
            return self.bad_value(cause, overrides)
        text = str(e)
        if "Error resolving interpolation" in text:
            # a deleted group (~dataset) leaves a defaults line that names its choice (train.yaml's
            # `recipe: ${dataset}_...`) without a value: say which group to choose
            for override in overrides:
                group = override.lstrip("~").split("=", 1)[0]
                if override.startswith("~") and self.loader.get_group_options(group):
                    options = "|".join(self.loader.get_group_options(group))
                    return GanError(f"{group}.name is not set: choose {group}=<{options}>")
        if "Ambiguous value for argument" in text:
            arg = re.search(r"argument '([^']+)'", text)
            return GanError(f"{arg.group(1) if arg else 'an override'} has several values: add --multirun to sweep "
                            "over them, or write a list as key=[a,b]")
        culprit = self._culprit(overrides)
        if culprit is not None:
            key = culprit.lstrip("+~").split("=", 1)[0]
            if culprit.startswith("+") and "Multiple values for" in text:
                return GanError(f"{culprit}: {key} is already chosen in the defaults; write {culprit[1:]} (without +)")
            unset = self._unselected_parent(key)
            if unset is not None:
                fix = f"tricks=[{unset.split('.', 1)[1]}]" if unset.startswith("tricks.") else f"a {unset} first"
                return GanError(f"{culprit}: {unset} is not in use in this config: select it with {fix}")
            return GanError(f"{culprit}: {_first_line(e)}")
        return GanError(_first_line(e))

    def unknown_option(self, group: str, option: str, options: list[str] | None) -> GanError:
        options = list(options or self.loader.get_group_options(group))
        guess = difflib.get_close_matches(option, options, n=1)
        did_you_mean = f"did you mean '{guess[0]}'? " if guess else ""
        listing = ", ".join(options) if options else "none"
        return GanError(f"{group}: there is no option '{option}'; {did_you_mean}choose from: {listing}")

    def unknown_key(self, full_key: str, object_type, overrides: list[str]) -> GanError:
        if full_key in REMOVED_KEYS:
            return GanError(f"{full_key} is no longer a config key: {REMOVED_KEYS[full_key]}")
        parent, _, leaf = full_key.rpartition(".")
        if object_type is not None and not dataclasses.is_dataclass(object_type):
            # a free-form section (e.g. hydra.job.env_set): new keys are added with +
            return GanError(f"{full_key} is not in {parent or 'the config'} yet: add it with +{full_key}=...")
        siblings = [f.name for f in dataclasses.fields(object_type)] if object_type else []
        guess = difflib.get_close_matches(leaf, siblings, n=1)
        # perhaps the right name under another section: steps -> trainer.steps
        by_leaf: dict[str, list[str]] = {}
        for key in _leaf_keys(self.defaults):
            by_leaf.setdefault(key.rpartition(".")[2], []).append(key)
        near = difflib.get_close_matches(leaf, list(by_leaf), n=1)
        # the closer of the two (stepz: trainer.steps rather than the top-level sweep)
        if guess and (not near or _similarity(leaf, guess[0]) >= _similarity(leaf, near[0])):
            suggestion = f"{parent}.{guess[0]}" if parent else guess[0]
        else:
            suggestion = " or ".join(by_leaf[near[0]]) if near else None
        did_you_mean = f": did you mean {suggestion}?" if suggestion else ""
        return GanError(f"{full_key} is not a config key{did_you_mean} (all keys: gan {self.config_name} --cfg job)")

    def bad_value(self, cause: ValidationError, overrides: list[str]) -> GanError:
        key = cause.full_key
        given = next((o for o in overrides if o.lstrip("+").split("=", 1)[0] == key), key)
        example = OmegaConf.select(self.defaults, key, default=None)
        if isinstance(example, (DictConfig, ListConfig)):
            example = OmegaConf.to_container(example)
        hint = f", e.g. {key}={_format(example)}" if example is not None else ""
        return GanError(f"{given}: {_first_line(cause)}{hint}")

    # ------------------------------------------------------------------ checks Hydra does not make
    def _check_added_keys(self, cfg: DictConfig, overrides: list[str]) -> None:
        """`+key=value` adds a key even to a schema-checked section; refuse keys the schema lacks."""
        for override in self.parse(overrides):
            if not (override.is_add() or override.is_force_add()):
                continue
            key = override.key_or_group
            if self.loader.get_group_options(key):
                continue  # +group=option appends to the defaults list
            parent, _, leaf = key.rpartition(".")
            node = OmegaConf.select(cfg, parent) if parent else cfg
            schema = OmegaConf.get_type(node) if isinstance(node, DictConfig) else None
            if dataclasses.is_dataclass(schema) and leaf not in {f.name for f in dataclasses.fields(schema)}:
                raise self.unknown_key(key, schema, overrides)

    def _check_missing(self, cfg: DictConfig) -> None:
        task = OmegaConf.masked_copy(cfg, [k for k in cfg.keys() if k != "hydra"])
        missing = sorted(OmegaConf.missing_keys(task))
        if not missing:
            return
        key = missing[0]
        if self.config_name == "report" and key == "dir":
            raise GanError("gan report needs the folder to report on: gan report outputs/multirun/<date>/<time>")
        group = key.split(".")[0]
        options = self.loader.get_group_options(group)
        if options:
            raise GanError(f"{key} is not set: choose {group}=<{'|'.join(options)}>")
        raise GanError(f"{key} is not set: give {key}=<value>")

    # ------------------------------------------------------------------ helpers
    @property
    def defaults(self) -> DictConfig:
        if self._defaults is None:
            self._defaults = compose(self.config_name, overrides=[])
        return self._defaults

    def _culprit(self, overrides: list[str]) -> str | None:
        """The first override whose addition makes composition fail."""
        for i in range(len(overrides)):
            try:
                compose(self.config_name, overrides=overrides[: i + 1], return_hydra_config=True)
            except Exception:
                return overrides[i]
        return None

    def _unselected_parent(self, key: str) -> str | None:
        """The section of `key` that is null in this config (e.g. tricks.ema without tricks=[ema])."""
        parts = key.split(".")
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            if OmegaConf.select(self.defaults, prefix, default="absent") is None:
                return prefix
        return None


def _leaf_keys(cfg: DictConfig, prefix: str = "") -> list[str]:
    keys = []
    for key in cfg.keys():
        full = f"{prefix}.{key}" if prefix else str(key)
        value = cfg._get_node(key)
        keys += _leaf_keys(value, full) if isinstance(value, DictConfig) and not value._is_none() else [full]
    return keys


def _format(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ",".join(_format(v) for v in value) + "]"
    return str(value)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()
