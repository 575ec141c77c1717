"""Helpers of the stream tests (scans, hosts, simulators): publishing,
reading back, waiting for a consumer group, reading a consumer's metrics."""
import re
import time
import urllib.request

import redis as redis_lib


def publish(r, messages, stream):
    """XADD each message as the entry's data field, pipelined."""
    pipe = r.pipeline(transaction=False)
    for i, m in enumerate(messages):
        pipe.xadd(stream, {"data": m})
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()


def entries(r, stream):
    """[(id, fields)] of the whole stream, in order."""
    out, start = [], "-"
    while True:
        chunk = r.xrange(stream, start, "+", count=5000)
        if start != "-":
            chunk = chunk[1:]
        if not chunk:
            return out
        out.extend(chunk)
        start = chunk[-1][0]


def drained(r, stream, group, n):
    """True once the group has read all n entries of the stream and acked them."""
    try:
        g = next(g for g in r.xinfo_groups(stream) if g["name"] == group)
    except StopIteration:
        return False
    except Exception as e:  # noqa: BLE001 - no such key yet
        if "no such key" in str(e).lower():
            return False
        raise
    return g["entries-read"] == n and g["pending"] == 0 and g["lag"] == 0


def wait_until(cond, timeout=60, what="condition"):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


class Feed:
    """Publishes messages to a stream and waits until its group has acked
    them all (the host consumers' stream and group by default)."""

    def __init__(self, r, stream="platform.inventory.host-ingress", group="inventory"):
        self.r, self.stream, self.group, self.n = r, stream, group, 0

    def __call__(self, *messages):
        publish(self.r, messages, self.stream)
        self.n += len(messages)
        wait_until(lambda: drained(self.r, self.stream, self.group, self.n),
                   what=f"{self.n} entries acked")


def metrics(p):
    """The /metrics text of a consumer process (its log names the port)."""
    port = int(re.search(r"http server listening.*port=(\d+)", p.err).group(1))
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        return resp.read().decode()


def metric(text, series):
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return None


def assert_host_counts(db):
    """hbi_host_count (kept by triggers, summed over its slots) agrees with
    hbi_host for every org."""
    real = dict(db.query("SELECT org_id, count(*) FROM hbi_host GROUP BY org_id"))
    kept = dict(db.query("SELECT org_id, sum(n)::bigint FROM hbi_host_count GROUP BY org_id"
                         " HAVING sum(n) <> 0"))
    assert kept == real


def ingest_through_redis_restart(inv, inv_popen, make_config, db, durable_redis, kind, stream,
                                 group, messages, table, **ingest):
    """Publishes messages to a restartable Redis (test_queue's durable_redis),
    starts `inventory ingest start <kind>`, restarts Redis once the consumer
    has written to table with entries still unread, and waits until the
    group has read and acked them all. Returns the consumer's Proc."""
    ingest = dict({"metrics": {"address": "127.0.0.1:0"}, "claim_interval": "200ms",
                   "claim_idle": "1s"}, **ingest)
    cfg = make_config(endpoint=durable_redis.endpoint, ingest={kind: ingest})
    for step in ("init", "migrate"):
        assert inv("db", step, config=cfg).rc == 0
    port = int(durable_redis.endpoint.rsplit(":", 1)[1])
    r = redis_lib.Redis(port=port, decode_responses=True)
    publish(r, messages, stream)
    p = inv_popen("ingest", "start", kind, config=cfg)
    wait_until(lambda: db.query(f"SELECT count(*) FROM {table}")[0][0] > 0,
               what="ingestion under way")
    g = next(g for g in r.xinfo_groups(stream) if g["name"] == group)
    assert g["lag"] > 0  # the restart meets entries still to read
    r.close()
    durable_redis.restart(down_for=1.0)
    r = redis_lib.Redis(port=port, decode_responses=True)
    wait_until(lambda: drained(r, stream, group, len(messages)), timeout=180,
               what="drain after restart")
    r.close()
    return p
