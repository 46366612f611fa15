"""The config `gan train` composes is the one recorded before issue 18 moved each loss's paper
optimizer and critic steps into conf/optim/paper/ and the defaults into the components' own
dataclasses: for every loss x optim option, every experiment and every trick
(tests/fixtures/record_composed_configs.py wrote tests/fixtures/composed_configs.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.record_composed_configs import composed, record

RECORDED = json.loads((Path(__file__).parent / "fixtures" / "composed_configs.json").read_text())
TRICKS_ORDER = RECORDED.pop("tricks order")


@pytest.mark.parametrize("command_line", list(RECORDED), ids=lambda line: line or "gan train")
def test_the_composed_config_is_the_recorded_one(command_line):
    assert record(composed(command_line.split())) == RECORDED[command_line]


def test_the_tricks_keep_their_order():
    """Tricks run (setup, loss terms, after-step hooks) in the schema's order: a new order would
    sum their loss terms in another order, and runs would not repeat bit for bit."""
    assert list(composed([])["tricks"]) == TRICKS_ORDER
