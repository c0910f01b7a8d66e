"""The built wheel holds the whole package: its default settings and Alembic migrations as well as its
code, so an installed copy configures and migrates itself (the CI script also installs and serves one)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_ships_every_file_of_the_package(tmp_path):
    source = tmp_path / "src"  # a copy, so the build leaves nothing (build/, egg-info) in the checkout
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "volunteer_app", source / "volunteer_app", ignore=ignore)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"), str(source)],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("volunteer_app-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        shipped = {name for name in zf.namelist() if name.startswith("volunteer_app/")}

    package = source / "volunteer_app"
    expected = {
        f"volunteer_app/{p.relative_to(package).as_posix()}" for p in package.rglob("*") if p.is_file()
    }
    assert shipped == expected
    assert {
        "volunteer_app/config/default.toml",
        "volunteer_app/config/gunicorn.py",
        "volunteer_app/migrations/alembic.ini",
        "volunteer_app/migrations/env.py",
        "volunteer_app/migrations/script.py.mako",
    } <= shipped
    assert any(name.startswith("volunteer_app/migrations/versions/0001_") for name in shipped)
