"""WSGI entry point for a checkout (`FLASK_APP=wsgi.py`); an installed package is served as
`gunicorn -c python:volunteer_app.config.gunicorn 'volunteer_app:create_app()'`."""

from volunteer_app import create_app

app = create_app()
