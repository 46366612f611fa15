"""The default `gan train` is the tuned CPU recipe (conf/recipe/), and only the default is."""

from omegaconf import OmegaConf

from tests.conftest import make_cfg
from tests.helpers import TINY_MLP_RING, train


def plain(cfg) -> dict:
    return OmegaConf.to_container(cfg, resolve=True)


def test_default_run_is_the_named_experiment():
    assert plain(make_cfg()) == plain(make_cfg(["experiment=fashion_mnist_cpu"]))
    cfg = make_cfg()
    assert cfg.experiment == "fashion_mnist_cpu"
    assert cfg.dataset.conditional and cfg.arch.width == 32
    assert cfg.trainer.max_minutes is not None and cfg.trainer.num_samples == 100  # a 10 x 10 grid, a row per class
    assert list(cfg.metrics.names) == ["fid", "is", "kid"]  # issue 13: every default run ends with all three


def test_recipe_values_stay_out_of_other_combinations():
    hinge = make_cfg(["loss=hinge"])  # same dataset and arch, another loss: the arch's own defaults
    assert hinge.experiment is None and not hinge.dataset.conditional and hinge.arch.width == 64
    assert hinge.trainer.max_minutes is None
    wgan = make_cfg(["loss=wgan"])  # a faithful WGAN: its paper's optimizer, untouched by the recipe
    assert (wgan.optim.d.name, wgan.optim.d.lr, wgan.trainer.d_steps) == ("rmsprop", 5e-5, 5)
    assert not make_cfg(["dataset=mnist"]).dataset.conditional


def test_command_line_beats_the_recipe():
    cfg = make_cfg(["arch.width=16", "dataset.conditional=false", "optim.g.lr=1e-4"])
    assert cfg.arch.width == 16 and not cfg.dataset.conditional and cfg.optim.g.lr == 1e-4


def test_time_budget_ends_the_run_at_a_log_step_and_finishes_it(tmp_path):
    overrides = [o for o in TINY_MLP_RING if not o.startswith(("trainer.steps", "trainer.log_every"))]
    summary = train(overrides + ["trainer.steps=40", "trainer.log_every=5", "trainer.max_minutes=0"], tmp_path)
    assert summary["status"] == "finished" and summary["steps"] == 5
    assert summary["stopped_by"] == "trainer.max_minutes"
    assert (tmp_path / "checkpoints" / "final.pt").is_file() and (tmp_path / "samples" / "final.png").is_file()
    assert "stopped_by" not in train(TINY_MLP_RING, tmp_path / "unbounded")
