"""credsvc.services.audit: rows of concurrent requests are written together, and nobody goes
on before its own row is committed."""

import json
import threading
import time

import pytest
import responses

from credsvc.directus import BATCH_ENDPOINT, DirectusClient, DirectusError
from credsvc.services.audit import COLLECTION, AuditTrail, GroupCommit
from tests.conftest import NO_ROUTE

URL = "http://directus.test"
APPEND = f"{URL}{BATCH_ENDPOINT}/append/{COLLECTION}"
ITEMS = f"{URL}/items/{COLLECTION}"


class SlowWriter:
    """write_rows that blocks each batch until released, and remembers what it committed."""

    def __init__(self, fail_batches=()):
        self.batches: list[list[dict]] = []
        self.committed: set[int] = set()
        self.entered = threading.Semaphore(0)
        self.release = threading.Semaphore(0)
        self.fail_batches = set(fail_batches)
        self.lock = threading.Lock()

    def __call__(self, rows):
        with self.lock:
            number = len(self.batches)
            self.batches.append(list(rows))
        self.entered.release()
        assert self.release.acquire(timeout=10), "the test never released a batch"
        if number in self.fail_batches:
            raise DirectusError(503, "POST", f"/items/{COLLECTION}", "{}")
        with self.lock:
            self.committed.update(row["n"] for row in rows)


def start_writers(commit, numbers, outcomes):
    def write(n):
        try:
            commit.write({"n": n})
        except DirectusError:
            outcomes[n] = "failed"
        else:
            # The caller goes on only once its own row is in a committed batch.
            outcomes[n] = "committed" if n in writer_of(commit).committed else "ACKED EARLY"

    threads = [threading.Thread(target=write, args=(n,)) for n in numbers]
    for thread in threads:
        thread.start()
    return threads


def writer_of(commit):
    return commit._write_rows


def wait_queued(commit, count):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with commit._lock:
            if len(commit._waiting) >= count:
                return
        time.sleep(0.005)
    raise AssertionError(f"{count} rows never queued")


def test_a_lone_row_is_written_at_once_in_its_own_batch():
    writer = SlowWriter()
    writer.release.release()
    GroupCommit(writer).write({"n": 1})
    assert writer.batches == [[{"n": 1}]]


def test_rows_arriving_during_a_write_go_in_one_batch_and_wait_for_it():
    writer = SlowWriter()
    commit = GroupCommit(writer)
    outcomes: dict[int, str] = {}
    first = start_writers(commit, [0], outcomes)
    assert writer.entered.acquire(timeout=5)  # batch 0 is in flight
    rest = start_writers(commit, range(1, 9), outcomes)
    wait_queued(commit, 8)
    assert outcomes == {}  # nobody is acknowledged while their rows are not written
    writer.release.release()  # commit batch 0
    for thread in first:
        thread.join(5)
    assert outcomes == {0: "committed"}
    assert writer.entered.acquire(timeout=5)  # batch 1: the eight queued rows, together
    assert sorted(row["n"] for row in writer.batches[1]) == list(range(1, 9))
    time.sleep(0.05)
    assert set(outcomes) == {0}  # still in flight: not acknowledged
    writer.release.release()
    for thread in rest:
        thread.join(5)
    assert outcomes == {n: "committed" for n in range(9)}
    assert len(writer.batches) == 2


def test_a_failed_batch_fails_each_of_its_callers_and_only_them():
    writer = SlowWriter(fail_batches={1})
    commit = GroupCommit(writer)
    outcomes: dict[int, str] = {}
    threads = start_writers(commit, [0], outcomes)
    assert writer.entered.acquire(timeout=5)
    threads += start_writers(commit, [1, 2, 3], outcomes)
    wait_queued(commit, 3)
    writer.release.release()  # batch 0 ok
    assert writer.entered.acquire(timeout=5)
    threads += start_writers(commit, [4, 5], outcomes)
    wait_queued(commit, 2)
    writer.release.release()  # batch 1 (rows 1-3) fails
    assert writer.entered.acquire(timeout=5)
    writer.release.release()  # batch 2 (rows 4, 5) ok
    for thread in threads:
        thread.join(5)
    assert outcomes == {
        0: "committed",
        1: "failed",
        2: "failed",
        3: "failed",
        4: "committed",
        5: "committed",
    }


def test_a_long_queue_is_written_in_batches_of_at_most_max_batch():
    writer = SlowWriter()
    commit = GroupCommit(writer, max_batch=3)
    outcomes: dict[int, str] = {}
    threads = start_writers(commit, [0], outcomes)
    assert writer.entered.acquire(timeout=5)
    threads += start_writers(commit, range(1, 8), outcomes)
    wait_queued(commit, 7)
    for _ in range(4):  # batch 0, then 7 queued rows as 3 + 3 + 1
        writer.release.release()
        if _ < 3:
            assert writer.entered.acquire(timeout=5)
    for thread in threads:
        thread.join(5)
    assert [len(batch) for batch in writer.batches] == [1, 3, 3, 1]
    assert outcomes == {n: "committed" for n in range(8)}


def test_many_threads_every_row_written_exactly_once():
    written: list[int] = []
    lock = threading.Lock()

    def write_rows(rows):
        time.sleep(0.002)
        with lock:
            written.extend(row["n"] for row in rows)

    commit = GroupCommit(write_rows)
    threads = [
        threading.Thread(target=lambda k=k: [commit.write({"n": k * 50 + i}) for i in range(50)])
        for k in range(16)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(written) == list(range(800))


@responses.activate
def test_the_trail_appends_every_batch_as_a_list_through_the_batch_endpoint():
    append = responses.post(APPEND, json={"data": {"created": 1}})
    trail = AuditTrail(DirectusClient(URL, "token", (1, 1)))
    trail.record(actor="internal:a", action="reveal", outcome="ok")
    trail._create([{"a": 1}, {"a": 2}])
    bodies = [json.loads(call.request.body) for call in append.calls]
    assert [len(body) for body in bodies] == [1, 2]
    assert bodies[0][0]["actor"] == "internal:a"


@responses.activate
def test_without_the_batch_endpoint_the_trail_falls_back_to_the_item_api_for_good():
    append = responses.post(APPEND, status=404, json=NO_ROUTE)
    items = responses.post(ITEMS, json={"data": []})
    client = DirectusClient(URL, "token", (1, 1))
    trail = AuditTrail(client)
    trail.record(actor="internal:a", action="reveal", outcome="ok")
    trail.record(actor="internal:b", action="reveal", outcome="ok")
    assert append.call_count == 1  # asked once
    assert [json.loads(c.request.body)[0]["actor"] for c in items.calls] == [
        "internal:a",
        "internal:b",
    ]
    assert client.batch_endpoint is False


@responses.activate
@pytest.mark.parametrize(
    "status, body",
    [(404, {"errors": [{"message": "nope", "extensions": {"code": "FORBIDDEN"}}]}), (404, None)],
)
def test_any_other_404_is_a_failure_not_a_missing_endpoint(status, body):
    responses.post(APPEND, status=status, json=body)
    client = DirectusClient(URL, "token", (1, 1))
    with pytest.raises(DirectusError):
        AuditTrail(client).record(actor="internal:a", action="reveal", outcome="ok")
    assert client.batch_endpoint is True


@responses.activate
def test_success_is_acknowledged_only_after_its_row_and_fails_closed_without_it():
    responses.post(APPEND, status=503, json={"errors": []})
    trail = AuditTrail(DirectusClient(URL, "token", (1, 1)))
    with pytest.raises(DirectusError):
        with trail.audited(actor="internal:a", action="reveal"):
            pass
