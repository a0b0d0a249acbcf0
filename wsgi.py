"""The WSGI entry point: gunicorn wsgi:app. The only place the app is created."""

from credsvc import create_app

app = create_app()
