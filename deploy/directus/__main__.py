"""`python -m deploy.directus web|release|schema-apply|env`: the Directus app's commands."""

import sys

from deploy.directus.app import main

sys.exit(main(sys.argv[1:]))
