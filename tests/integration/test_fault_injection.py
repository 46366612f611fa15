"""SIGKILL at random moments after a checkpoint exists, then `gan train resume=`: three runs on
`ring` end bit-identical to the uninterrupted run (benchmarks/fault_injection.py)."""

from __future__ import annotations

import subprocess

import pytest

from tests.helpers import start_python


@pytest.mark.slow
def test_three_sigkilled_runs_resume_bit_identical(tmp_path):
    script = start_python("benchmarks/fault_injection.py", "--trials", "3", "--out", str(tmp_path),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output, _ = script.communicate(timeout=1800)
    assert script.returncode == 0, output
    assert "3 of 3 trials bit-identical to the uninterrupted run" in output
