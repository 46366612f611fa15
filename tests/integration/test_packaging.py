"""The wheel must carry every subpackage, the top-level conf/ (as gan_cli/conf) and the shipped
classifier with its manifest (gan_cli/assets)."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

REPO = Path(__file__).resolve().parents[2]


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_every_subpackage_is_listed_for_the_wheel():
    listed = set(pyproject()["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "gan_cli").rglob("__init__.py")}
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert "gan_cli.conf" in listed


def test_shipped_assets_are_package_data():
    import fnmatch

    patterns = pyproject()["tool"]["setuptools"]["package-data"]["gan_cli"]
    assets = sorted((REPO / "gan_cli" / "assets").iterdir())
    assert assets, "gan_cli/assets holds the shipped classifier"
    for path in assets:
        assert any(fnmatch.fnmatch(f"assets/{path.name}", p) for p in patterns), f"{path.name} is not package data"


@pytest.mark.slow
def test_wheel_contains_every_config_file(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(REPO)], check=True)
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for yaml in (REPO / "conf").rglob("*.yaml"):
        assert f"gan_cli/conf/{yaml.relative_to(REPO / 'conf').as_posix()}" in names
    for module in ("__init__", "grid", "launch", "optuna"):
        assert f"hydra_plugins/gan_sweepers/{module}.py" in names
    for asset in (REPO / "gan_cli" / "assets").iterdir():
        assert f"gan_cli/assets/{asset.name}" in names


def test_the_sweeper_plugins_are_listed_and_hydra_plugins_stays_a_namespace():
    """Hydra finds plugins in the `hydra_plugins` namespace package: it must have no __init__.py,
    or it would hide every other installed plugin (the submitit launcher among them)."""
    listed = set(pyproject()["tool"]["setuptools"]["packages"])
    assert "hydra_plugins.gan_sweepers" in listed and "hydra_plugins" not in listed
    assert not (REPO / "hydra_plugins" / "__init__.py").exists()
    assert (REPO / "hydra_plugins" / "gan_sweepers" / "__init__.py").exists()
