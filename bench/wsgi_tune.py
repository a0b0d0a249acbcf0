"""credsvc for bench/tune.py: wsgi.py's app with two knobs a tuning step may turn.

    BENCH_DIRECT_AUDIT=1     every audit row its own Directus POST (before group commit)
    BENCH_DIRECTUS_POOL=n    the Directus client's connection pool (HTTPAdapter pool_maxsize)
                             instead of credsvc.directus's default
    BENCH_BATCH_ENDPOINT=0   write through Directus's item API, not the credsvc-batch endpoint

Only the benchmarks serve this; production serves wsgi.py.
"""

import os

from requests.adapters import HTTPAdapter

from credsvc import create_app
from credsvc.services.audit import COLLECTION, AuditTrail, row


class DirectAuditTrail(AuditTrail):
    def record(self, **fields):
        self.directus.create_item(COLLECTION, row(**fields))


app = create_app()
services = app.extensions["credsvc"]
if os.environ.get("BENCH_DIRECT_AUDIT") == "1":
    services.audit = DirectAuditTrail(services.directus)
if os.environ.get("BENCH_BATCH_ENDPOINT") == "0":
    services.directus.batch_endpoint = False
if os.environ.get("BENCH_DIRECTUS_POOL"):
    session = services.directus.session
    old = session.get_adapter("http://")
    adapter = HTTPAdapter(
        max_retries=old.max_retries, pool_maxsize=int(os.environ["BENCH_DIRECTUS_POOL"])
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
