"""The zoo configs and pretrained agents ship as package data (a normal install runs the demo too)."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest
import tomllib

import sb3_spiking
from sb3_spiking.demo import main
from sb3_spiking.resources import DATA_DIRS, data_dir

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(sb3_spiking.__file__).resolve().parent


@pytest.mark.parametrize("name", DATA_DIRS)
def test_every_data_file_is_package_data(name: str) -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["sb3_spiking"]
    files = [p for p in (ROOT / name).rglob("*") if p.is_file()]
    assert files
    for path in files:
        relative = f"{name}/{path.relative_to(ROOT / name).as_posix()}"
        # setuptools' package-data globs do not cross "/" with "*"
        matched = [p for p in patterns if fnmatch.fnmatch(relative, p) and p.count("/") == relative.count("/")]
        assert matched, f"{relative} is not covered by package-data {patterns}"
    assert data_dir(name).samefile(ROOT / name)
    assert (PACKAGE / name).resolve() == (ROOT / name).resolve()


def test_bad_names_and_demo_arguments() -> None:
    with pytest.raises(ValueError, match="unknown data folder 'agents'"):
        data_dir("agents")
    with pytest.raises(SystemExit):
        main(["--episodes", "0"])
