"""credsvc as it was before group commit: every audit row its own Directus POST.

Only `make bench` serves this (gunicorn bench.wsgi_direct_audit), for the before/after figure
of the audit group commit in the same run; production serves wsgi.py.
"""

from credsvc import create_app
from credsvc.services.audit import COLLECTION, AuditTrail, row


class DirectAuditTrail(AuditTrail):
    def record(self, **fields):
        self.directus.create_item(COLLECTION, row(**fields))


app = create_app()
services = app.extensions["credsvc"]
services.audit = DirectAuditTrail(services.directus)
