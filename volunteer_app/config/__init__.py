"""Deployment defaults shipped with the package: default.toml (settings, read by volunteer_app.settings)
and gunicorn.py (`gunicorn -c python:volunteer_app.config.gunicorn 'volunteer_app:create_app()'`)."""
