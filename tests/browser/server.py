"""The browser tests' server: a real process serving the checkout's app, as `./dev serve` sets it up.

It runs `flask deploy` and `flask demo load` (the README's commands, each its own process) on the
instance directory named by VOLUNTEER_INSTANCE_DIR (SQLite there), then serves the app with werkzeug's
threaded server on a free port of 127.0.0.1, with the worker embedded (VOLUNTEER_WORKER_MODE=embedded:
exports get made) and public links pointing at this server. Once listening it prints
`serving on http://127.0.0.1:PORT` (tests/browser/conftest.py waits for that line, then for /readyz).

Usage (the environment as the fixture sets it): VOLUNTEER_INSTANCE_DIR=/tmp/x python -m tests.browser.server
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[2]


def _flask(*args: str) -> None:
    """A `flask` command on the checkout's app, its output in this process's output; exit on failure."""
    env = {**os.environ, "FLASK_APP": "wsgi.py"}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "flask", *args], cwd=ROOT, env=env, check=False)
    if done.returncode:
        sys.exit(f"flask {' '.join(args)} exited {done.returncode}")
    print(f"flask {' '.join(args)}: {time.monotonic() - started:.1f} s", flush=True)


def main() -> None:
    _flask("deploy")
    _flask("demo", "load")
    # Bound first (port 0: the kernel picks a free one, no race with another run), so the app can be
    # built knowing its own address: certificate links and the like point at this server.
    server = make_server("127.0.0.1", 0, app=None, threaded=True)
    base = f"http://127.0.0.1:{server.port}"
    os.environ["VOLUNTEER_PUBLIC_BASE_URL"] = base
    from volunteer_app import create_app

    # Served outside any CLI command, so create_app starts the embedded worker (and the scheduler if
    # asked for; the fixture leaves it off so no job changes the data under a test).
    server.app = create_app()
    print(f"serving on {base}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
