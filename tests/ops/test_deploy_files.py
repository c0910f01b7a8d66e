"""The deployment files in deploy/ stay true to the code: .env.example names every setting the code
reads from the environment (every [app] key as VOLUNTEER_<KEY>, and every variable read through
os.environ / the settings' environ mapping), its commented defaults are the shipped ones, nginx's body
limit is the app's, and systemd accepts the units (systemd-analyze verify)."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PACKAGE = ROOT / "volunteer_app"
ENV_EXAMPLE = DEPLOY / ".env.example"
UNITS = DEPLOY / "systemd"
SERVICES = ("volunteer-web.service", "volunteer-worker.service", "volunteer-scheduler.service")

# Read by tools rather than by our code: the flask command needs it to find the app.
READ_BY_TOOLS = {"FLASK_APP"}
# Read only to refuse it with a message naming its replacements (settings.py): not a setting.
REFUSED = {"VOLUNTEER_LOGIN_LIMIT"}
# Set by the code for itself, never by an operator: gunicorn's configuration marks the master that owns
# the metrics directory (so a reload leaves it alone).
INTERNAL = {"VOLUNTEER_METRICS_DIR_OWNER"}

_LINE = re.compile(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


def _example() -> dict[str, tuple[bool, str]]:
    """name -> (active, value) for every `NAME=value` or `# NAME=value` line of .env.example."""
    found = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = _LINE.match(line)
        if match:
            found[match.group(2)] = (match.group(1) is None, match.group(3))
    return found


def _app_table() -> dict:
    with open(PACKAGE / "config" / "default.toml", "rb") as fh:
        return tomllib.load(fh)["app"]


def _is_environ(node: ast.AST) -> bool:
    """`environ` (the settings' mapping) or `os.environ`; not `request.environ` (a WSGI request's)."""
    if isinstance(node, ast.Name):
        return node.id == "environ"
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "environ"
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    )


def _constant_name(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and _ENV_NAME.match(node.value):
        return node.value
    return None


def _variables_read(tree: ast.AST) -> set[str]:
    """Names read from the environment in one module: environ.get("X"), environ["X"], os.getenv("X"),
    "X" in environ, and f(environ, key="X") (a helper given the environment and the names to read)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            first = node.args[0] if node.args else None
            if isinstance(func, ast.Attribute) and func.attr == "get" and _is_environ(func.value):
                names.add(_constant_name(first))
            if (isinstance(func, ast.Attribute) and func.attr == "getenv") or (
                isinstance(func, ast.Name) and func.id == "getenv"
            ):
                names.add(_constant_name(first))
            if any(_is_environ(arg) for arg in node.args):
                names.update(_constant_name(kw.value) for kw in node.keywords)
        elif isinstance(node, ast.Subscript) and _is_environ(node.value):
            names.add(_constant_name(node.slice))
        elif isinstance(node, ast.Compare) and any(_is_environ(c) for c in node.comparators):
            names.add(_constant_name(node.left))
    names.discard(None)
    return names


def _code_variables() -> set[str]:
    names: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        names |= _variables_read(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    return names


def test_every_app_setting_is_in_env_example():
    named = _example()
    wanted = {f"VOLUNTEER_{key.upper()}" for key in _app_table()}
    missing = sorted(wanted - named.keys())
    assert not missing, f"deploy/.env.example lacks these [app] settings: {missing}"


def test_every_environment_variable_the_code_reads_is_in_env_example():
    read = _code_variables()
    # The scan itself finds what we know is read (else it would pass by finding nothing).
    assert {"DATABASE_URL", "REDIS_URL", "VOLUNTEER_SECRET_KEY", "TENCENTCLOUD_SECRET_ID", "BIND"} <= read
    assert read >= REFUSED, "a refused name is no longer read: drop it from REFUSED"
    named = _example()
    missing = sorted((read - REFUSED - INTERNAL | READ_BY_TOOLS) - named.keys())
    assert not missing, f"deploy/.env.example lacks these variables the code reads: {missing}"


def test_the_scan_sees_each_way_of_reading_the_environment():
    source = (
        "import os\n"
        "os.environ.get('A_ONE'); os.environ['A_TWO']; os.getenv('A_THREE')\n"
        "def f(environ):\n"
        "    environ.get('A_FOUR'); 'A_FIVE' in environ; helper(environ, key='A_SIX')\n"
        "request.environ.get('HTTP_AUTHORIZATION')\n"
    )
    assert _variables_read(ast.parse(source)) == {"A_ONE", "A_TWO", "A_THREE", "A_FOUR", "A_FIVE", "A_SIX"}


def test_commented_defaults_in_env_example_are_the_shipped_ones():
    """A `# VOLUNTEER_X=value` line shows the default: it must be default.toml's, or it misleads."""
    app = _app_table()
    wrong = {}
    for name, (active, value) in _example().items():
        key = name.removeprefix("VOLUNTEER_").lower()
        if active or not name.startswith("VOLUNTEER_") or key not in app:
            continue
        shown = value.strip('"')
        default = app[key]
        expected = str(default).lower() if isinstance(default, bool) else str(default)
        if shown != expected:
            wrong[name] = (shown, expected)
    assert not wrong, f"commented defaults differ from default.toml (shown, shipped): {wrong}"


def test_active_lines_parse_the_same_in_systemd_and_a_shell():
    """Values with ; # or spaces are quoted, so systemd's EnvironmentFile= and `set -a; . file` agree."""
    for name, (active, value) in _example().items():
        if active and re.search(r"[;#\s$`\\]", value):
            assert value.startswith('"') and value.endswith('"'), f"{name}: quote {value!r}"


def test_nginx_body_limit_is_the_apps():
    conf = (DEPLOY / "nginx" / "volunteer.conf").read_text(encoding="utf-8")
    (size,) = re.findall(r"^\s*client_max_body_size\s+(\d+)([kKmM]?);", conf, re.M)
    factor = {"": 1, "k": 1024, "m": 1024 * 1024}[size[1].lower()]
    assert int(size[0]) * factor == _app_table()["max_content_length"]
    assert "proxy_set_header X-Request-ID $request_id;" in conf
    assert re.search(r"location = /metrics \{\s*return 404;", conf), "/metrics must not be proxied"


def _unit(name: str) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


@pytest.mark.parametrize(
    ("name", "command"),
    [
        (
            "volunteer-web.service",
            "/opt/volunteer/bin/gunicorn -c python:volunteer_app.config.gunicorn"
            ' "volunteer_app:create_app()"',
        ),
        ("volunteer-worker.service", "/opt/volunteer/bin/flask worker run"),
        ("volunteer-scheduler.service", "/opt/volunteer/bin/flask scheduler run"),
    ],
)
def test_each_unit_runs_its_command_as_the_service_user_with_the_env_file(name, command):
    unit = _unit(name)
    assert unit["ExecStart"] == [command]
    assert unit["EnvironmentFile"] == ["/etc/volunteer_app/env"]
    assert unit["User"] == ["volunteer"] and unit["Group"] == ["volunteer"]
    assert unit["WorkingDirectory"] == ["/srv/volunteer"]
    assert unit["Restart"] in (["always"], ["on-failure"]) and unit["StartLimitBurst"]
    assert unit["PartOf"] == ["volunteer.target"] and unit["WantedBy"] == ["volunteer.target"]
    assert unit["KillSignal"] == ["SIGTERM"] and unit["TimeoutStopSec"]
    assert unit["ProtectSystem"] == ["strict"] and unit["ReadWritePaths"] == ["/srv/volunteer/instance"]
    for setting in ("NoNewPrivileges", "PrivateTmp", "ProtectHome"):
        assert unit[setting] == ["yes"], setting
    assert name in _unit("volunteer.target")["Wants"][0].split()


def test_systemd_accepts_the_units(tmp_path):
    """`systemd-analyze verify` on the units, their executables stood in for by stubs (the check wants
    them to exist); any complaint (an unknown key, a bad value) fails."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for exe in ("gunicorn", "flask", "volunteer-backup"):
        (stubs / exe).write_text("#!/bin/sh\n")
        (stubs / exe).chmod(0o755)
    units = tmp_path / "units"
    units.mkdir()
    names = sorted(p.name for p in UNITS.iterdir() if p.suffix in (".service", ".target", ".timer"))
    assert set(SERVICES) | {"volunteer.target"} <= set(names)
    for name in names:
        text = (UNITS / name).read_text(encoding="utf-8").replace("/opt/volunteer/bin/", f"{stubs}/")
        text = text.replace("/usr/local/sbin/volunteer-backup", f"{stubs}/volunteer-backup")
        (units / name).write_text(text, encoding="utf-8")
    result = subprocess.run(
        [analyze, "verify", *(f"./{n}" for n in names)], cwd=units, capture_output=True, text=True
    )
    complaints = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and not complaints, complaints


def test_the_flask_wrapper_is_valid_shell():
    subprocess.run(["sh", "-n", str(DEPLOY / "volunteer-flask")], check=True)


def test_gunicorn_freezes_the_preloaded_app_before_each_fork(monkeypatch, tmp_path):
    """pre_fork moves what the master made into the permanent generation (gc.freeze): the workers'
    collections leave it alone."""
    import gc

    # (Importing the settings prepares a metrics directory for the importing process, which a
    # PROMETHEUS_MULTIPROC_DIR left set would put in multiprocess mode: kept to this test.)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setenv("VOLUNTEER_METRICS_DIR_OWNER", "0")
    from volunteer_app.config import gunicorn

    gc.unfreeze()
    try:
        gunicorn.pre_fork(server=None, worker=None)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
