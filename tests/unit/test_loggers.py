"""`logger=tensorboard` beside the JSONL files, and the latest score on the progress line."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest
from PIL import Image

from gan_cli.console import TrainingProgress
from gan_cli.errors import GanError
from gan_cli.loggers import JsonlLogger, build_logger


def events(log_dir: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    return acc


def test_jsonl_writes_metrics_jsonl_and_unknown_names_are_refused(tmp_path):
    assert type(build_logger("jsonl", tmp_path)) is JsonlLogger
    with pytest.raises(GanError, match="logger=comet is unknown: use one of jsonl, tensorboard, mlflow, wandb"):
        build_logger("comet", tmp_path)
    with pytest.raises(GanError, match="logger=comet is unknown"):
        build_logger(["tensorboard", "comet"], tmp_path)  # checked before any logger is made
    assert not any(tmp_path.iterdir())
    build_logger("jsonl", tmp_path).metrics(5, {"step": 5, "d/loss": 1.5})
    assert (tmp_path / "metrics.jsonl").read_text() == '{"step": 5, "d/loss": 1.5}\n'


def test_missing_tensorboard_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    with pytest.raises(GanError, match="needs the tensorboard package: pip install tensorboard"):
        build_logger("tensorboard", tmp_path)


def test_tensorboard_logs_losses_scores_and_samples_and_purges_on_resume(tmp_path):
    pytest.importorskip("tensorboard")
    png = tmp_path / "grid.png"
    Image.new("RGB", (30, 20), (0, 128, 255)).save(png)
    logger = build_logger("tensorboard", tmp_path)
    logger.open(0)
    for step in (5, 10):
        logger.metrics(step, {"step": step, "images_per_s": 100.0, "d/loss": 1.0 + step, "g/loss": 0.5})
    logger.scores(10, {"modes": 7, "reverse_kl": 0.25})
    logger.samples(10, png)
    logger.close()

    acc = events(tmp_path / "tensorboard")
    assert [(e.step, e.value) for e in acc.Scalars("d/loss")] == [(5, 6.0), (10, 11.0)]
    assert [e.value for e in acc.Scalars("perf/images_per_s")] == [100.0, 100.0]
    assert [(e.step, e.value) for e in acc.Scalars("scores/modes")] == [(10, 7.0)]
    (image,) = acc.Images("samples")
    assert (image.step, image.width, image.height) == (10, 30, 20)

    # resumed from a checkpoint at step 5: what the old session logged after it is dropped
    logger = build_logger("tensorboard", tmp_path)
    logger.open(5)
    logger.metrics(10, {"step": 10, "d/loss": -1.0})
    logger.close()
    assert [(e.step, e.value) for e in events(tmp_path / "tensorboard").Scalars("d/loss")] == [(5, 6.0), (10, -1.0)]


def test_progress_reports_the_latest_score(caplog):
    progress = TrainingProgress(total=100, start=0, enabled=False)  # not a terminal: log lines
    with caplog.at_level(logging.INFO, logger="gan"):
        progress.score(50, {"modes": 7, "hq_fraction": 0.9, "reverse_kl": 0.125})
        progress.score(60, {})
    assert [r.getMessage() for r in caplog.records] == ["step 50/100  scores: modes=7 reverse_kl=0.125"]


def test_progress_keeps_the_bar_whole_on_a_narrow_terminal():
    import io

    from rich.console import Console, Group
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn

    from gan_cli.console import _TwoLineProgress

    screen = Console(width=60, file=io.StringIO(), record=True)
    progress = _TwoLineProgress(TextColumn("train"), BarColumn(bar_width=10), MofNCompleteColumn(), console=screen)
    progress.add_task("train", total=30000, completed=2900, score="[cyan]modes=7 reverse_kl=0.1 @2900[/]",
                      info="d/loss=1.29 g/loss=0.699 d/d_real=0.214 d/d_fake=0.00419 g/grad_norm=0.5")
    screen.print(Group(*progress.get_renderables()))
    bar, scores = screen.export_text().splitlines()
    assert "2900/30000" in bar
    assert scores.startswith("  modes=7 reverse_kl=0.1 @2900  d/loss=1.29") and scores.endswith("…")
    assert len(scores) <= 60
