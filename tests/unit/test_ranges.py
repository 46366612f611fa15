"""Every numeric setting has a range, checked before any work, for a plain run, every job of a
sweep and `--cfg job` alike; the train pre-flight refuses what only the builders know (norms,
learning rates, devices, combinations, the resume folder) before Hydra makes a folder."""

from __future__ import annotations

import dataclasses
import math
import shlex
import typing

import pytest

from gan_cli import config as schemas
from gan_cli.cli import config_dir
from gan_cli.config_check import check_command_line
from gan_cli.config_ranges import Range, count, interval, positive, ranged, ranges_of
from gan_cli.errors import GanError

RING = "dataset=ring arch=mlp metrics=none device=cpu "


def numeric_fields(schema, prefix=""):
    """(key, dataclass, field) for every int/float (or list of them) in a schema, recursively."""
    hints = typing.get_type_hints(schema)
    for f in dataclasses.fields(schema):
        kind = hints[f.name]
        args = [a for a in typing.get_args(kind) if a is not type(None)] or [kind]
        inner = [typing.get_args(a)[0] if typing.get_origin(a) is list else a for a in args]
        if any(dataclasses.is_dataclass(a) for a in inner):
            sub = next(a for a in inner if dataclasses.is_dataclass(a))
            yield from numeric_fields(sub, f"{prefix}{f.name}.")
        elif any(a in (int, float) for a in inner):
            yield f"{prefix}{f.name}", schema, f


SCHEMAS = [schemas.TrainConfig, schemas.EvalConfig, schemas.SampleConfig, schemas.ClassifierConfig,
           schemas.ReportConfig]


def keys_without_a_range(schema) -> list[str]:
    return [key for key, owner, f in numeric_fields(schema) if f.name not in ranges_of(owner)]


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: s.__name__)
def test_every_numeric_key_of_every_schema_has_a_range(schema):
    """A key added later (to config.py, or to a loss's or trick's config) fails here until it is
    declared with its range: `ranged(default, rule)`."""
    assert keys_without_a_range(schema) == []


@dataclasses.dataclass
class NewTrickConfig:
    weight: float = ranged(1.0, positive())
    width: int = 4  # declared without its range
    sizes: list[int] = dataclasses.field(default_factory=lambda: [1])  # nor this one
    name: str = "x"


@dataclasses.dataclass
class WithNewTrick:
    new: NewTrickConfig | None = None


def test_a_numeric_key_without_a_range_is_found():
    """The walk above reaches nested and optional schemas, lists and the loss's and tricks'
    configs, so a key declared without `ranged` cannot slip by."""
    assert keys_without_a_range(WithNewTrick) == ["new.width", "new.sizes"]
    assert "tricks.r1.gamma" in {key for key, _, _ in numeric_fields(schemas.TrainConfig)}
    assert "loss.gp_weight" in {key for key, _, _ in numeric_fields(schemas.TrainConfig)}


@pytest.mark.parametrize("rule, value, refused", [
    (count(10), 1, False), (count(10), 10, False), (count(10), 0, True), (count(10), 11, True), (count(10), -5, True),
    (interval(), 0, False), (interval(), 1, False), (interval(), -1, True),
    (positive(), 1e-12, False), (positive(), 0.0, True), (positive(), -1e-3, True),
    (Range(0, 1), 0.0, False), (Range(0, 1), 1.0, False), (Range(0, 1), 1.0000001, True),
    (Range(0, 1, high_open=True), 1.0, True), (Range(0, 1, high_open=True), 0.999, False),
    (Range(), math.nan, True), (Range(), math.inf, True), (Range(), -1e300, False),
])
def test_range_rules_at_their_edges(rule, value, refused):
    assert (rule.problem(value) is not None) == refused


def test_range_descriptions_say_what_is_allowed():
    assert count(1000).describe() == "in [1, 1000]"
    assert interval().describe() == "in [1, 1_000_000_000], or 0 for never"
    assert positive().describe() == "> 0"
    assert Range(0, 1, high_open=True).describe() == "in [0, 1)"


def refused(command_line: str, config_name: str = "train") -> str:
    with pytest.raises(GanError) as info:
        check_command_line(config_name, config_dir(), shlex.split(command_line))
    message = str(info.value)
    assert "\n" not in message
    return message


# each of these trained, crashed or "finished" with 0 steps before the ranges (issue 19)
@pytest.mark.parametrize("override, expected", [
    ("trainer.d_steps=0", "trainer.d_steps=0: it must be in [1, 1000]"),
    ("trainer.log_every=0", "trainer.log_every=0: it must be in [1,"),
    ("trainer.batch_size=0", "trainer.batch_size=0: it must be in [1, 65536]"),
    ("trainer.steps=-5", "trainer.steps=-5: it must be in [1,"),
    ("trainer.checkpoint_every=-1", "trainer.checkpoint_every=-1: it must be in [1, 1_000_000_000], or 0 for never"),
    ("optim.d.lr=0", "optim.d.lr=0.0: it must be > 0"),
    ("optim.g.lr=nan", "optim.g.lr=nan: it must be a finite number"),
    ("optim.g.betas=[0.5,1.0]", "optim.g.betas=[0.5,1.0]: it must be in [0, 1)"),
    ("arch.g_hidden=[64,0]", "arch.g_hidden=[64,0]: it must be in [1, 65536]"),
    ("arch.width=1000000000000", "arch.width=1000000000000: it must be in [1, 2048]"),
    ("tricks=[label_smoothing] tricks.label_smoothing.real=1.5", "tricks.label_smoothing.real=1.5: it must be in [0, 1]"),
    ("seed=-1", "seed=-1: it must be in [0,"),
])
def test_out_of_range_values_are_refused_by_name(override, expected):
    assert expected in refused(RING + override)


def test_the_same_line_under_cfg_job_and_multirun():
    plain = refused(RING + "trainer.d_steps=0")
    assert refused(RING + "trainer.d_steps=0 --cfg job") == plain
    assert plain in refused("--multirun " + RING + "seed=0,1 trainer.d_steps=1,0")


def test_a_sweep_combination_is_refused_before_the_first_job():
    """loss=ns and arch.d_norm=batch is fine; with loss=wgan_gp it is not: job 0 used to train
    to its end before job 1 was refused."""
    message = refused("--multirun " + RING + "loss=ns,wgan_gp arch.d_norm=batch")
    assert message.startswith("sweep job loss=wgan_gp: loss=wgan_gp penalises per-sample gradients")


@pytest.mark.parametrize("override, expected", [
    ("device=cuda:7", "device=cuda:7 but no CUDA GPU is visible"),
    ("arch.d_norm=bogus", "unknown norm 'bogus'"),
    ("optim.g.name=adamw", "unknown optimizer 'adamw'"),
    ("logger=wandbb", "logger=wandbb is unknown"),
    ("trainer.amp=fp16", "trainer.amp=fp16 needs a CUDA GPU"),
])
def test_meaning_checks_run_before_the_run(override, expected):
    if override.startswith("device") or override.endswith("fp16"):
        pytest.importorskip("torch")
        import torch

        if torch.cuda.is_available():
            pytest.skip("a GPU is visible")
    assert expected in refused(RING + override)


def test_missing_data_is_refused_before_the_run(tmp_path):
    assert "not found under" in refused(f"dataset=mnist dataset.root={tmp_path} dataset.download=false")


def test_gan_report_without_a_folder_is_one_line():
    assert refused("", "report") == "gan report needs the folder to report on: gan report outputs/multirun/<date>/<time>"
