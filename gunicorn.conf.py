"""gunicorn settings, read automatically from the working directory (Procfile and make run).

Command-line flags (e.g. --bind in the Procfile) override these. The access log is one JSON
object a line with the request id and the path WITHOUT its query string, so nothing a client
put in a URL by mistake reaches the logs. A JSON encoder builds it (credsvc.accesslog), not
access_log_format: a format string would let a crafted path break the line or forge a field.
"""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '3001')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
# A worker stuck longer than this is replaced; Directus calls time out well before it.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 10
keepalive = 5
# Limits on the request line and headers (bodies are capped by MAX_CONTENT_LENGTH in the app).
limit_request_line = 4094
limit_request_field_size = 8190
accesslog = "-"
errorlog = "-"
logger_class = "credsvc.accesslog.JsonAccessLogger"


def on_starting(server):
    """Refuse to start on an invalid configuration with the app's own short report (every
    problem, one line each), in the master, before any worker: a worker that failed to import
    the app would print a traceback and be restarted over and over. Then, with
    PROMETHEUS_MULTIPROC_DIR, empty it: values of an earlier run's workers must not be summed."""
    import sys

    from credsvc.config import Config, ConfigError

    try:
        config = Config.from_env()
    except ConfigError as error:
        print(error.report(), file=sys.stderr, flush=True)
        sys.exit(1)
    if config.metrics_multiprocess_dir:
        from pathlib import Path

        folder = Path(config.metrics_multiprocess_dir)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()


def child_exit(server, worker):
    """A worker ended: drop its live-gauge files (prometheus_client multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
