"""hydra/sweeper=optuna: the objective and its direction, the search space, each trial's value,
and a search that continues where it stopped (gan_cli/search.py, gan_cli/optuna_study.py)."""

from __future__ import annotations

import json
import math

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from gan_cli import search
from gan_cli.errors import GanError
from tests.conftest import make_cfg
from tests.helpers import TINY_RING, gan

optuna = pytest.importorskip("optuna", reason="hydra/sweeper=optuna needs optuna: pip install -e '.[optuna]'")


@pytest.mark.parametrize("overrides, expected", [
    (["experiment=ring"], search.Objective("modes", "maximize")),
    (["experiment=ring", "sweep.objective=reverse_kl"], search.Objective("reverse_kl", "minimize")),
    (["experiment=ring", "sweep.objective=hq_fraction", "sweep.direction=maximize"], search.Objective("hq_fraction", "maximize")),
    (["dataset=fashion_mnist"], search.Objective("fid", "minimize")),
    (["dataset=fashion_mnist", "sweep.objective=is", "metrics.names=[fid,is]"], search.Objective("is", "maximize")),
])
def test_the_objective_and_its_direction(overrides, expected):
    assert search.objective_of(make_cfg(overrides)) == expected


@pytest.mark.parametrize("overrides, message", [
    (["experiment=ring", "sweep.objective=acuracy"], "sweep.objective=acuracy is not a score runs report: choose one of fid,"),
    (["experiment=ring", "sweep.objective=modes", "sweep.direction=minimize"],
     "sweep.direction=minimize contradicts sweep.objective=modes, which is better higher: drop sweep.direction"),
    (["dataset=fashion_mnist", "sweep.objective=fid", "sweep.direction=maximize"], "contradicts sweep.objective=fid, which is better lower"),
    (["experiment=ring", "sweep.direction=down"], "sweep.direction=down: choose minimize or maximize"),
    (["experiment=ring", "sweep.objective=fid"], "sweep.objective=fid is an image score; dataset=ring reports modes"),
    (["dataset=fashion_mnist", "sweep.objective=kid", "metrics.names=[fid]"], "sweep.objective=kid needs metrics.names to include kid"),
    (["dataset=fashion_mnist", "sweep.objective=modes"], "sweep.objective=modes is scored on 2-D mixtures only"),
])
def test_a_bad_objective_is_one_line_naming_the_fix(overrides, message):
    with pytest.raises(GanError) as e:
        search.objective_of(make_cfg(overrides))
    assert message in str(e.value) and "\n" not in str(e.value)


def parse(*lines):
    return OverridesParser.create().parse_overrides(list(lines))


def test_the_search_space_from_hydras_grammar():
    space, fixed = search.search_space(parse("optim.g.lr=tag(log,interval(1e-4,1e-2))", "loss=ns,hinge",
                                             "arch.width=int(interval(16,64))", "trainer.batch_size=range(32,129,32)",
                                             "tricks=choice([],[pack])", "seed=3"))
    assert space["optim.g.lr"] == optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)
    assert space["loss"] == optuna.distributions.CategoricalDistribution(["ns", "hinge"])
    assert space["arch.width"] == optuna.distributions.IntDistribution(16, 64)
    assert space["trainer.batch_size"] == optuna.distributions.CategoricalDistribution([32, 64, 96, 128])
    assert space["tricks"] == optuna.distributions.CategoricalDistribution(["[]", "['pack']"])
    assert fixed == ["seed=3"]
    # every digit of a sampled float reaches the trial's config
    assert search.trial_overrides({"optim.g.lr": 0.1 + 0.2, "loss": "ns"}, fixed) == \
        ["optim.g.lr=0.30000000000000004", "loss=ns", "seed=3"]


@pytest.mark.parametrize("line, message", [
    ("optim.g.lr=tag(log,interval(0,1e-2))", "a log interval needs bounds above 0"),
    ("optim.g.lr=interval(1e-2,1e-4)", "needs a lower bound below the upper one"),
])
def test_a_search_space_that_cannot_be_searched_is_refused(line, message):
    with pytest.raises(GanError, match=message):
        search.search_space(parse(line))
    with pytest.raises(GanError, match="needs a search space"):
        search.search_space(parse("seed=1"))


def test_a_trial_value_is_the_finished_runs_score_else_a_failure(tmp_path):
    objective = search.Objective("reverse_kl", "minimize")
    cases = {"ok": {"status": "finished", "reverse_kl": 0.25}, "inf": {"status": "finished", "reverse_kl": None},
             "diverged": {"status": "diverged", "error": "training diverged at step 3: d/loss is nan"}}
    for name, summary in cases.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(json.dumps(summary))
    assert search.trial_value(tmp_path / "ok", objective) == (0.25, "")
    assert search.trial_value(tmp_path / "inf", objective) == (None, "finished without a finite reverse_kl (None)")
    assert search.trial_value(tmp_path / "diverged", objective) == (None, "diverged: training diverged at step 3: d/loss is nan")
    assert search.trial_value(tmp_path / "missing", objective)[0] is None


@pytest.mark.slow  # five runs in two searches: about a minute on 2 busy cores
def test_a_search_continues_into_its_folder_without_repeating_a_trial(tmp_path):
    """2 trials, then the same command with n_trials=3: one more trial, numbered 2; trial folders
    0 and 1 untouched; search.json holds 3 distinct trials and the best (modes, maximised)."""
    args = ["train", "-m", "hydra/sweeper=optuna", *TINY_RING, "trainer.steps=10", "trainer.log_every=10",
            "optim.g.lr=tag(log,interval(1e-4,1e-2))", "loss=ns,hinge", "hydra.sweeper.seed=1",
            f"hydra.sweep.dir={tmp_path}"]
    first = gan(*args, "hydra.sweeper.n_trials=2")
    assert first.returncode == 0, first.stderr
    before = {p: p.stat().st_mtime_ns for p in tmp_path.glob("[01]_*/**/*") if p.is_file()}
    again = gan(*args, "hydra.sweeper.n_trials=3")
    assert again.returncode == 0, again.stderr
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("[01]_*/**/*") if p.is_file()} == before

    found = json.loads((tmp_path / "search.json").read_text())
    trials = found["trials"]
    assert [t["number"] for t in trials] == [0, 1, 2] and all(t["state"] == "complete" for t in trials)
    assert len({json.dumps(t["params"], sort_keys=True) for t in trials}) == 3
    assert sorted(p.name.split("_")[0] for p in tmp_path.iterdir() if (p / "summary.json").exists()) == ["0", "1", "2"]
    for t in trials:
        summary = json.loads((tmp_path / t["job"] / "summary.json").read_text())
        assert t["value"] == summary["modes"]
        assert math.isclose(json.loads(json.dumps(t["params"]))["optim.g.lr"], t["params"]["optim.g.lr"])
    assert found["objective"] == "modes" and found["direction"] == "maximize"
    assert found["best"]["value"] == max(t["value"] for t in trials)
    assert f"search: best trial {found['best']['number']}: modes = " in again.stdout + again.stderr


def test_bad_search_input_is_one_line_before_any_trial(tmp_path):
    result = gan("train", "-m", "hydra/sweeper=optuna", *TINY_RING, "sweep.objective=modes", "sweep.direction=minimize",
                 "loss=ns,hinge", f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: sweep.direction=minimize contradicts sweep.objective=modes, which is better higher: drop sweep.direction")
    assert not any(p.is_dir() for p in tmp_path.iterdir())
