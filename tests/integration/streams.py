"""Helpers of the stream tests (scans, hosts, simulators): publishing,
reading back, waiting for a consumer group, reading a consumer's metrics."""
import re
import time
import urllib.request


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
