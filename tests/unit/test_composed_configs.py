"""The config `gan train` composes is the one recorded before issue 18 moved each loss's paper
optimizer and critic steps into conf/optim/paper/ and the defaults into the components' own
dataclasses: for every loss x optim option, every experiment and every trick
(tests/fixtures/record_composed_configs.py wrote tests/fixtures/composed_configs.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from gan_cli.cli import config_dir
from gan_cli.tricks import TRICKS, build_tricks
from tests.fixtures.record_composed_configs import composed, record

RECORDED = json.loads((Path(__file__).parents[1] / "fixtures" / "composed_configs.json").read_text())
TRICKS_ORDER = RECORDED.pop("tricks order")


@pytest.mark.parametrize("command_line", list(RECORDED), ids=lambda line: line or "gan train")
def test_the_composed_config_is_the_recorded_one(command_line):
    assert record(composed(command_line.split())) == RECORDED[command_line]


def test_the_tricks_run_in_their_recorded_order():
    """Tricks run (setup, loss terms, after-step hooks) in the order build_tricks gives them: a
    new order would sum their loss terms in another order, and runs would not repeat bit for bit.
    Before issue 18 that was the schema's order with spectral_norm moved first (its setup_order
    was -1); now each trick's `order` gives both, so the `tricks` node lists spectral_norm first."""
    recorded_run_order = ["spectral_norm", *(name for name in TRICKS_ORDER if name != "spectral_norm")]
    with initialize_config_dir(config_dir=config_dir(), version_base=None):
        cfg = compose("train", overrides=[f"tricks=[{','.join(TRICKS)}]"])
    assert [trick.name for trick in build_tricks(cfg.tricks, cfg)] == recorded_run_order
    assert list(composed([])["tricks"]) == recorded_run_order
