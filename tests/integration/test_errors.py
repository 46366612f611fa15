"""User errors end with one clear line naming the fix, before any work starts; --verbose or
HYDRA_FULL_ERROR=1 shows the full trace."""

from __future__ import annotations

import shlex

import pytest

from gan_cli.cli import config_dir
from gan_cli.config_check import check_command_line
from gan_cli.errors import GanError
from tests.helpers import gan

CASES = {
    "trainer.stepz=5": "trainer.stepz is not a config key: did you mean trainer.steps?",
    # Hydra accepts +key for any key; the schema does not.
    "+trainer.stepz=5": "trainer.stepz is not a config key: did you mean trainer.steps?",
    "stepz=5": "stepz is not a config key: did you mean trainer.steps?",
    "batch_size=8": "batch_size is not a config key: did you mean trainer.batch_size or metrics.batch_size?",
    "trainer.steps=abc": "trainer.steps=abc: Value 'abc' of type 'str' could not be converted to Integer, "
    "e.g. trainer.steps=15000",
    "trainer.check_finite=maybe": "trainer.check_finite=maybe: Value 'maybe' is not a valid bool",
    "optim.g.betas=0.5": "optim.g.betas=0.5: Invalid value assigned: float is not a ListConfig",
    "trainer=fastt": "trainer: there is no option 'fastt'; choose from: debug, default",
    "experiment=rng": "experiment: there is no option 'rng'; did you mean 'ring'? choose from:",
    "tricks=[emaa]": "tricks: there is no option 'emaa'; did you mean 'ema'?",
    "tricks.ema.decay=0.5": "tricks.ema.decay=0.5: tricks.ema is not in use in this config: select it with tricks=[ema]",
    "tricks=[ema] tricks.ema.decayy=0.5": "tricks.ema.decayy is not a config key: did you mean tricks.ema.decay?",
    "hydra.job.env_set.FOO=1": "hydra.job.env_set.FOO is not in hydra.job.env_set yet: add it with "
                               "+hydra.job.env_set.FOO=...",
    "arch=resnet arch.d_spectral_norm=false": "arch.d_spectral_norm is no longer a config key: spectral norm is a "
                                              "trick: tricks=[spectral_norm] normalises D (arch=resnet selects it; "
                                              "tricks.spectral_norm=null drops it)",
    "+experiment=ring": "+experiment=ring: experiment is already chosen in the defaults; write experiment=ring",
    "~dataset": "dataset.name is not set: choose dataset=<",
    "trainer.steps=[1": "cannot read the override 'trainer.steps=[1'",
    "seed=1,2": "seed=1,2 has several values: add --multirun to sweep over them",
    "hydra.run.dirr=x": "hydra.run.dirr is not a config key: did you mean hydra.run.dir?",
    # A sweep is checked job by job before any job starts.
    "--multirun seed=0,1 trainer.steps=10,abc": "trainer.steps=abc: Value 'abc'",
    "--multirun loss=ns,nss": "loss: there is no option 'nss'; did you mean 'ns'?",
    # --cfg job is checked as a run is (Hydra's own message would suggest +trainer.stepz=1)
    "--cfg job trainer.stepz=1": "trainer.stepz is not a config key: did you mean trainer.steps?",
    # resume= names a run folder that exists: Hydra would create the missing one
    "resume=/nonexistent/run trainer.steps=9": "resume=/nonexistent/run: there is no such folder",
}
ACCEPTED = ["", "trainer.steps=10", "+arch.extra.depth=3", "++trainer.steps=3", "experiment=ring tricks=[ema]",
            "--multirun seed=0,1 trainer.steps=range(1,3)", "hydra.run.dir=/tmp/x", "--cfg job trainer.steps=1",
            # Hydra's own flags are left to Hydra
            "--help", "--info defaults trainer.stepz=1"]


@pytest.mark.parametrize("command_line", list(CASES))
def test_bad_override_is_one_line_naming_key_and_fix(command_line):
    with pytest.raises(GanError) as info:
        check_command_line("train", config_dir(), shlex.split(command_line))
    message = str(info.value)
    assert "\n" not in message
    assert CASES[command_line] in message


@pytest.mark.parametrize("command_line", ACCEPTED)
def test_good_command_lines_pass(command_line):
    check_command_line("train", config_dir(), shlex.split(command_line))


# ----------------------------------------------------------------------------- end to end
def test_cli_error_is_one_line_without_traceback_and_verbose_shows_it(tmp_path):
    plain = gan("train", "trainer.steps=abc", f"hydra.run.dir={tmp_path}")
    assert plain.returncode == 2
    assert plain.stdout == "" and "Traceback" not in plain.stderr
    assert plain.stderr.strip().splitlines() == [
        "error: trainer.steps=abc: Value 'abc' of type 'str' could not be converted to Integer, e.g. trainer.steps=15000"
    ]
    assert not tmp_path.joinpath(".hydra").exists()  # refused before any work

    verbose = gan("train", "--verbose", "trainer.steps=abc", f"hydra.run.dir={tmp_path}")
    assert verbose.returncode == 2
    assert "Traceback" in verbose.stderr and "ValidationError" in verbose.stderr


def test_missing_dataset_is_one_line(tmp_path):
    result = gan("train", "dataset=mnist", "dataset.root=/nonexistent", "dataset.download=false",
                 f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    assert lines[-1].startswith("error: mnist train images") and "/nonexistent" in lines[-1]
