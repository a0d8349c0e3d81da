"""WSGI entry for gunicorn: `gunicorn ticketing.wsgi:app`."""

from ticketing.app import create_app

app = create_app()
