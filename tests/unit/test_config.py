"""Config composition: groups compose, schemas refuse typos and wrong types by name."""

import pytest
from hydra.errors import ConfigCompositionException

from tests.conftest import make_cfg


def test_default_config_is_the_fashion_mnist_recipe():
    cfg = make_cfg()
    assert cfg.dataset.name == "fashion_mnist"
    assert cfg.arch.name == "dcgan"
    assert cfg.device == "auto"
    assert cfg.trainer.steps > 0


def test_groups_compose_and_loss_sets_its_paper_optimizer():
    cfg = make_cfg(["dataset=ring", "arch=mlp", "loss=ns", "tricks=[ema]", "optim.d.lr=1e-3"])
    assert cfg.dataset.name == "ring" and cfg.arch.name == "mlp"
    assert cfg.optim.g.lr == pytest.approx(2e-4)  # ns: DCGAN's Adam, the default optimizer
    assert cfg.optim.d.lr == pytest.approx(1e-3)  # the command line wins
    assert cfg.tricks.ema.decay == pytest.approx(0.999)  # schema default
    assert cfg.tricks.pack is None  # tricks not chosen stay off


def test_explicit_optim_choice_overrides_the_loss_paper_optimizer():
    cfg = make_cfg(["optim=ttur"])
    assert (cfg.optim.g.lr, cfg.optim.d.lr) == (pytest.approx(1e-4), pytest.approx(4e-4))


@pytest.mark.parametrize("override, key", [("trainer.stepz=5", "trainer.stepz"), ("trainer.steps=abc", "trainer.steps")])
def test_bad_overrides_are_refused_by_name(override, key):
    with pytest.raises(ConfigCompositionException) as info:
        make_cfg([override])
    text = str(info.value) + str(info.value.__cause__)
    assert key in text
