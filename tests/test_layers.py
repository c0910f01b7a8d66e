"""The import layers (pyproject.toml [tool.importlinter], run by `./dev lint`) hold on the real tree, and
the check does fail when a lower layer imports a higher one: a copy of the package with one upward
import planted is refused."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "pyproject.toml"


def _lint_imports() -> str:
    beside = Path(sys.executable).with_name("lint-imports")
    found = str(beside) if beside.exists() else shutil.which("lint-imports")
    if found is None:
        pytest.skip("lint-imports is not installed (it comes with the dev extras: pip install -e '.[dev]')")
    return found


def _check(tree: Path) -> subprocess.CompletedProcess:
    """lint-imports with the project's contracts on the volunteer_app found in `tree`."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [_lint_imports(), "--no-logo", "--no-cache", str(CONFIG)],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_tree_keeps_its_layers():
    result = _check(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "upward"),
    [
        ("accounts/models.py", "volunteer_app.orders.models"),  # a lower domain importing a higher one
        ("pagination.py", "volunteer_app.accounts.models"),  # core importing a domain
        ("auth/tokens.py", "volunteer_app.sites.models"),  # auth's low part importing a domain
    ],
)
def test_an_upward_import_breaks_the_contract(tmp_path, module, upward):
    shutil.copytree(
        ROOT / "volunteer_app", tmp_path / "volunteer_app", ignore=shutil.ignore_patterns("__pycache__")
    )
    planted = tmp_path / "volunteer_app" / module
    planted.write_text(planted.read_text() + f"\nimport {upward}  # planted by tests/test_layers.py\n")
    result = _check(tmp_path)
    assert result.returncode != 0, result.stdout
    importer = "volunteer_app." + module.removesuffix(".py").replace("/", ".")
    assert f"{importer} -> {upward}" in result.stdout, result.stdout
