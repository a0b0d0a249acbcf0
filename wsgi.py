"""The WSGI entry point: gunicorn wsgi:app, and `flask --app wsgi <command>`. The only place the
app is created.

An invalid configuration stops the process with its problems, one line each, and no traceback
(gunicorn stops earlier with the same lines: gunicorn.conf.py). Under the `flask` command line
(Flask sets FLASK_RUN_FROM_CLI before it loads this module) the commands get an app that serves
nothing instead, so they still show in --help, `check` reports every problem and
`keys generate` works.
"""

import os
import sys

from credsvc import create_app, create_cli_app
from credsvc.config import ConfigError

try:
    app = create_app()
except ConfigError as error:
    if os.environ.get("FLASK_RUN_FROM_CLI") != "true":
        sys.exit(error.report())
    app = create_cli_app(error)
