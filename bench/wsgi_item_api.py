"""credsvc writing through Directus's item API instead of the credsvc-batch endpoint (the state
before the endpoint; the audit group commit stays on).

Only `make bench` serves this (gunicorn bench.wsgi_item_api), for the before/after figure of the
endpoint in the same run; production serves wsgi.py.
"""

from credsvc import create_app

app = create_app()
app.extensions["credsvc"].directus.batch_endpoint = False  # as if Directus lacked the endpoint
