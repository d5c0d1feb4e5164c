"""The distribution: a wheel named trail-recorder holding trail and its hook templates and nothing else, its version
written once (trail.__version__), and `python -m trail` for when the script is not on PATH."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

import trail

ROOT = Path(__file__).resolve().parent.parent


def source_files() -> list[str]:
    """The files of this checkout that git does not ignore, tracked or not (so no caches, builds or venvs)."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    return sorted({name for name in os.fsdecode(out).split("\0") if name and (ROOT / name).is_file()})


@pytest.fixture(scope="module")
def copied(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A copy of the checkout (tests, bench and examples included, so that leaving them out is the wheel's doing; a
    stale build/ folder left in the checkout cannot leak in), and the files it holds."""
    base = tmp_path_factory.mktemp("wheel")
    files = source_files()
    for name in files:
        (base / "src" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, base / "src" / name)
    return base, files


@pytest.fixture(scope="module")
def wheel(copied: tuple[Path, list[str]]) -> Path:
    """A wheel built as a release is, by pip."""
    base, _ = copied
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(base / "src"), "--no-deps", "-q", "-w", str(base / "out")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    (built,) = (base / "out").glob("*.whl")
    return built


def test_wheel_is_trail_recorder_at_trails_version(wheel: Path) -> None:
    assert wheel.name == f"trail_recorder-{trail.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as z:
        metadata = z.read(f"trail_recorder-{trail.__version__}.dist-info/METADATA").decode()
        entry_points = z.read(f"trail_recorder-{trail.__version__}.dist-info/entry_points.txt").decode()
        names = z.namelist()
    assert "\nName: trail-recorder\n" in metadata and f"\nVersion: {trail.__version__}\n" in metadata
    assert "\nLicense-Expression: MIT\n" in metadata
    assert f"trail_recorder-{trail.__version__}.dist-info/licenses/LICENSE" in names
    assert "trail = trail.cli:main" in entry_points and "trail-hook = trail.capture.hook:main" in entry_points


def test_wheel_holds_exactly_the_package_and_the_hook_templates(wheel: Path, copied: tuple[Path, list[str]]) -> None:
    expected = set()
    for name in copied[1]:
        if name.startswith("src/trail/"):
            expected.add(name.removeprefix("src/"))
        elif name.startswith("hooks/"):
            expected.add("trail/_hooks/" + name.removeprefix("hooks/"))
    with zipfile.ZipFile(wheel) as z:
        shipped = {name for name in z.namelist() if not name.split("/")[0].endswith(".dist-info")}
    assert shipped == expected, f"missing: {sorted(expected - shipped)}; extra: {sorted(shipped - expected)}"


def test_the_wheel_runs_from_where_it_is_unpacked(wheel: Path, tmp_path: Path) -> None:
    """Installed from the wheel (not this checkout), trail finds its hook templates and says its version."""
    with zipfile.ZipFile(wheel) as z:
        z.extractall(tmp_path)
    program = (
        "import importlib.resources, trail, trail.cli; "
        "print(trail.__file__); "
        "print(importlib.resources.files('trail._hooks').joinpath('claude-code.json').is_file())"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    found = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, env=env)
    assert found.returncode == 0, found.stderr
    assert found.stdout.splitlines() == [str(tmp_path / "trail" / "__init__.py"), "True"]
    version = subprocess.run([sys.executable, "-m", "trail", "--version"], capture_output=True, text=True, env=env)
    assert version.returncode == 0 and version.stdout == f"trail, version {trail.__version__}\n", version.stderr


def test_the_version_is_written_once() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "trail.__version__"}
    assert (ROOT / "CHANGELOG.md").read_text().count(f"## [{trail.__version__}]") == 1


def test_python_dash_m_trail(tmp_path: Path) -> None:
    for command in ([sys.executable, "-m", "trail"], [sys.executable, "-m", "trail.cli"]):
        version = subprocess.run([*command, "--version"], capture_output=True, text=True, cwd=tmp_path)
        assert version.returncode == 0 and version.stdout == f"trail, version {trail.__version__}\n", version.stderr
        usage = subprocess.run([*command, "--help"], capture_output=True, text=True, cwd=tmp_path)
        assert usage.returncode == 0 and usage.stdout.startswith("Usage: trail [OPTIONS] COMMAND"), usage.stderr
