"""WSGI entry point: `gunicorn -c config/gunicorn.conf.py wsgi:app`."""

from volunteer_app import create_app

app = create_app()
