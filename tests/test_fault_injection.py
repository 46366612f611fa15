"""SIGKILL at random moments after a checkpoint exists, then `gan train resume=`: three runs on
`ring` end bit-identical to the uninterrupted run (benchmarks/fault_injection.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from run_helpers import REPO, gan_env


@pytest.mark.slow
def test_three_sigkilled_runs_resume_bit_identical(tmp_path):
    result = subprocess.run([sys.executable, "benchmarks/fault_injection.py", "--trials", "3", "--out", str(tmp_path)],
                            cwd=REPO, env=gan_env(), capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 of 3 trials bit-identical to the uninterrupted run" in result.stdout
