"""Streamed scan results (docs/ingest.md): `inventory ingest start scans`
against a real Redis Stream and PostgreSQL — latest wins whatever the
order, redelivery, dead-lettering of every invalid kind, consumers killed
mid-batch, a PostgreSQL restart, several consumers, the API routes."""
import base64
import ipaddress
import json
import random
import signal
import time
import urllib.request

import psycopg2
import pytest
import redis as redis_lib

from conftest import as_pg, consumers
from streams import ingest_through_redis_restart, metric, metrics, wait_until
from streams import drained as group_drained
from streams import publish as publish_to

STREAM, DLQ, GROUP = "scan-topic", "scan-topic-dlq", "inventory"


def publish(r, messages, stream=STREAM):
    publish_to(r, messages, stream)


def drained(r, n):
    return group_drained(r, STREAM, GROUP, n)


def msg(ip, port, service, ts, text, version=None):
    version = version or random.choice([1, 2])
    data = ({"response_bytes_utf8": base64.b64encode(text.encode()).decode()} if version == 1
            else {"response_str": text})
    return json.dumps({"ip": ip, "port": port, "service": service, "timestamp": ts,
                       "data_version": version, "data": data})


def reference(messages):
    """The latest (timestamp, response bytes) per key, computed here."""
    best = {}
    for m in map(json.loads, messages):
        text = (base64.b64decode(m["data"]["response_bytes_utf8"]).decode()
                if m["data_version"] == 1 else m["data"]["response_str"])
        key = (str(ipaddress.ip_address(m["ip"])), m["port"], m["service"])
        cand = (m["timestamp"], text.encode())
        if key not in best or cand > best[key]:
            best[key] = cand
    return {k: (ts, b.decode()) for k, (ts, b) in best.items()}


def table(db):
    rows = db.query("SELECT ip, port, service, extract(epoch FROM scanned_at)::bigint, response "
                    "FROM scan_result")
    return {(ip, port, svc): (ts, resp) for ip, port, svc, ts, resp in rows}


def generate(n, keys, seed):
    """n messages over `keys` keys with ties, old timestamps and repeats."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        k = rnd.randrange(keys)
        ip = f"10.{k // 250}.{k % 250}.1" if k % 5 else f"2001:db8::{k:x}"
        if out and rnd.random() < 0.2:
            out.append(rnd.choice(out))  # an exact repeat
            continue
        ts = 1_700_000_000 + rnd.randrange(50)  # few values: many ties
        out.append(msg(ip, [22, 80, 443][k % 3], ["SSH", "HTTP", "HTTPS"][k % 3], ts,
                       f"banner {rnd.randrange(4)} é", rnd.choice([1, 2])))
    return out


@pytest.fixture
def scans(inv, inv_popen, make_config, db, redis_db):
    """Starts consumers: scans(config=None, **ingest_overrides) -> Proc."""
    return consumers("scans", inv, inv_popen, make_config)


def test_latest_wins_in_any_order(scans, db, redis_db, db_factory, inv, make_config):
    messages = generate(3000, 300, seed=1)
    want = reference(messages)
    p = scans(batch_size=97, writers=1)
    publish(redis_db, messages)
    wait_until(lambda: drained(redis_db, len(messages)), what="first order")
    assert table(db) == want
    p.stop()
    # The same messages shuffled, twice, each into a fresh database and stream.
    for seed in (2, 3):
        shuffled = messages[:]
        random.Random(seed).shuffle(shuffled)
        other = db_factory()
        cfg = make_config(dsn=other.dsn, ingest={"scans": {
            "metrics": {"address": "127.0.0.1:0"}, "batch_size": 13 * seed, "writers": seed * 2,
            "stream": f"s{seed}", "dead_letter": f"s{seed}-dlq"}})
        for step in ("init", "migrate"):
            assert inv("db", step, config=cfg).rc == 0
        q = scans(config=cfg)
        publish(redis_db, shuffled, stream=f"s{seed}")
        wait_until(lambda: next((g["lag"] == 0 and g["pending"] == 0 and
                                 g["entries-read"] == len(shuffled))
                                for g in redis_db.xinfo_groups(f"s{seed}")),
                   what=f"order {seed}")
        assert table(other) == want, seed
        q.stop()


def test_ties_and_replays_change_nothing(scans, db, redis_db):
    p = scans()
    T = 1_700_000_000
    first = [msg("10.0.0.1", 443, "HTTPS", T, "b"), msg("10.0.0.1", 443, "HTTPS", T, "a"),
             msg("10.0.0.1", 443, "HTTPS", T - 1, "z")]
    publish(redis_db, first)
    wait_until(lambda: drained(redis_db, 3))
    assert table(db) == {("10.0.0.1", 443, "HTTPS"): (T, "b")}  # tie: "b" > "a"
    before = db.query("SELECT updated_at FROM scan_result")
    # Redelivery / replay of everything, and a day-old observation.
    publish(redis_db, first + [msg("10.0.0.1", 443, "HTTPS", T - 86400, "old")])
    wait_until(lambda: drained(redis_db, 7))
    assert table(db) == {("10.0.0.1", 443, "HTTPS"): (T, "b")}
    assert db.query("SELECT updated_at FROM scan_result") == before
    # A newer one replaces it; IPv6 is stored canonical.
    publish(redis_db, [msg("10.0.0.1", 443, "HTTPS", T + 1, "a"),
                       msg("2001:DB8:0:0::1", 22, "SSH", 5, "x")])
    wait_until(lambda: drained(redis_db, 9))
    assert table(db) == {("10.0.0.1", 443, "HTTPS"): (T + 1, "a"),
                         ("2001:db8::1", 22, "SSH"): (5, "x")}
    # Counted just after the ack: wait for the last batch's figures.
    wait_until(lambda: metric(metrics(p), 'inventory_ingest_consumed_total{stream="scan-topic"}')
               == 9, what="metrics")
    text = metrics(p)
    assert metric(text, "inventory_ingest_upserted_total{stream=\"scan-topic\"}") == 3, text
    assert metric(text, 'inventory_ingest_stale_total{stream="scan-topic"}') == 6, text


GOOD = {"ip": "10.1.1.1", "port": 80, "service": "HTTP", "timestamp": 10, "data_version": 2,
        "data": {"response_str": "ok"}}


def variant(**changes):
    m = json.loads(json.dumps(GOOD))
    for k, v in changes.items():
        if v is None:
            m.pop(k)
        else:
            m[k] = v
    return json.dumps(m)


INVALID = [
    ("json", "{not json"),
    ("json", "[1, 2]"),
    ("json", '{"ip": "10.1.1.1", "ip": "10.1.1.2"}'),
    ("missing_field", variant(ip=None)),
    ("missing_field", variant(timestamp=None)),
    ("missing_field", variant(data={"response_bytes_utf8": "eA=="})),  # version 2 needs str
    ("ip", variant(ip="10.1.1.300")),
    ("ip", variant(ip="' OR 1=1 --")),
    ("ip", variant(ip=167837953)),
    ("port", variant(port=0)),
    ("port", variant(port=65536)),
    ("port", variant(port="80")),
    ("service", variant(service="")),
    ("service", variant(service="x" * 65)),
    ("service", variant(service="a\u0001b")),
    ("timestamp", variant(timestamp=-1)),
    ("timestamp", variant(timestamp=1.5)),
    ("timestamp", variant(timestamp=253402300800)),
    ("data_version", variant(data_version=3)),
    ("data_version", variant(data_version="1")),
    ("base64", variant(data_version=1, data={"response_bytes_utf8": "not base64!"})),
    ("base64", variant(data_version=1, data={"response_bytes_utf8": "eA="})),
    ("encoding", variant(data_version=1, data={"response_bytes_utf8": "/w=="})),  # 0xff
    ("encoding", variant(data={"response_str": "a\u0000b"})),
    ("oversized", variant(data={"response_str": "x" * 70000})),
]


def test_every_invalid_reason_is_dead_lettered(scans, db, redis_db):
    p = scans()
    publish(redis_db, [m for _, m in INVALID] + [json.dumps(GOOD)])
    redis_db.xadd(STREAM, {"other": "field"})  # no data field
    n = len(INVALID) + 2
    wait_until(lambda: drained(redis_db, n))
    assert table(db) == {("10.1.1.1", 80, "HTTP"): (10, "ok")}
    dead = redis_db.xrange(DLQ)
    got = [(e["reason"], e["data"]) for _, e in dead]
    assert got == [(r, m) for r, m in INVALID] + [("json", "")]
    ids = [e[0] for e in redis_db.xrange(STREAM)]
    assert [e["id"] for _, e in dead] == ids[:len(INVALID)] + [ids[-1]]
    assert all(e["error"] and "SELECT" not in e["error"] for _, e in dead)
    wait_until(lambda: metric(metrics(p), 'inventory_ingest_consumed_total{stream="scan-topic"}')
               == n, what="metrics")
    text = metrics(p)
    for reason in {r for r, _ in INVALID}:
        want = sum(1 for r, _ in INVALID if r == reason) + (reason == "json")
        assert metric(text, f'inventory_ingest_invalid_total{{stream="scan-topic",'
                            f'reason="{reason}"}}') == want, reason


def test_kill_mid_batch_loses_nothing(scans, db, redis_db):
    messages = generate(40000, 2000, seed=7)
    publish(redis_db, messages)
    a = scans(batch_size=500)
    wait_until(lambda: db.query("SELECT count(*) FROM scan_result")[0][0] > 0, what="progress")
    a.stop(signal.SIGKILL)
    left = next(g for g in redis_db.xinfo_groups(STREAM) if g["name"] == GROUP)
    assert left["entries-read"] < len(messages) or left["pending"] > 0
    # A new consumer finishes, taking over what the dead one left pending.
    b = scans(batch_size=500, claim_idle="1s")
    wait_until(lambda: drained(redis_db, len(messages)), timeout=120)
    assert table(db) == reference(messages)
    b.stop()


def test_several_consumers_share_the_stream(scans, db, redis_db):
    messages = generate(20000, 1000, seed=11)
    publish(redis_db, messages)
    ps = [scans(batch_size=200, concurrency=2) for _ in range(2)]
    wait_until(lambda: drained(redis_db, len(messages)), timeout=120)
    assert table(db) == reference(messages)
    consumers = redis_db.xinfo_consumers(STREAM, GROUP)
    assert len(consumers) == 4 and sum(c["pending"] for c in consumers) == 0
    wait_until(lambda: sum(metric(metrics(p), 'inventory_ingest_consumed_total{stream='
                               '"scan-topic"}') or 0 for p in ps) == len(messages), what="metrics")


def test_postgres_restart_during_ingestion(inv, inv_popen, make_config, private_stack):
    d, env = private_stack
    pgbin = f"/usr/lib/postgresql/{(d / 'pg' / 'PG_VERSION').read_text().strip()}/bin"
    cfg = make_config(dsn=env["DATABASE_URI"], endpoint=env["REDIS_ENDPOINT"],
                      ingest={"scans": {"metrics": {"address": "127.0.0.1:0"},
                                        "batch_size": 200}})
    for step in ("init", "migrate"):
        assert inv("db", step, config=cfg).rc == 0
    r = redis_lib.Redis(host="127.0.0.1", port=int(env["REDIS_ENDPOINT"].rsplit(":", 1)[1]),
                        decode_responses=True)
    messages = generate(30000, 1500, seed=5)
    p = inv_popen("ingest", "start", "scans", config=cfg)
    p.wait_for(r"ingest: consuming")
    publish(r, messages[:10000])
    assert as_pg(f"{pgbin}/pg_ctl", "-D", d / "pg", "-m", "fast", "-w", "stop").returncode == 0
    publish(r, messages[10000:])  # while the database is down
    time.sleep(1.5)
    g = next(g for g in r.xinfo_groups(STREAM) if g["name"] == GROUP)
    assert g["lag"] > 0 or g["pending"] > 0  # nothing acked without the database
    assert as_pg(f"{pgbin}/pg_ctl", "-D", d / "pg", "-l", d / "postgres.log", "-w",
                 "start").returncode == 0
    wait_until(lambda: drained(r, len(messages)), timeout=120, what="drain after restart")
    c = psycopg2.connect(env["DATABASE_URI"])
    with c.cursor() as cur:
        cur.execute("SELECT ip, port, service, extract(epoch FROM scanned_at)::bigint, response "
                    "FROM scan_result")
        got = {(ip, port, s): (ts, resp) for ip, port, s, ts, resp in cur.fetchall()}
    c.close()
    assert got == reference(messages)
    # the batches that met the outage were retried, not acked
    assert metric(metrics(p), 'inventory_ingest_db_errors_total{stream="scan-topic"}') >= 1
    assert "database connection failed" in p.err or "batch not committed" in p.err
    p.stop()
    r.close()


def test_redis_restart_during_ingestion(inv, inv_popen, make_config, db, durable_redis):
    """Redis (with its AOF) restarts while a consumer works: the reader and
    the acker reconnect, nothing is lost, and every entry is acked in the
    end (a batch committed but not acked is redelivered, harmlessly)."""
    messages = generate(60000, 1500, seed=6)
    p = ingest_through_redis_restart(inv, inv_popen, make_config, db, durable_redis, "scans",
                                     STREAM, GROUP, messages, "scan_result", batch_size=100)
    got = {(ip, port_, s): (ts, resp) for ip, port_, s, ts, resp in db.query(
        "SELECT ip, port, service, extract(epoch FROM scanned_at)::bigint, response"
        " FROM scan_result")}
    assert got == reference(messages)
    assert "redis connection restored" in p.err
    assert p.alive
    p.stop()


def test_api_scans(scans, db, redis_db, inv_popen, make_config):
    scans()
    publish(redis_db, [msg("10.0.0.7", 443, "HTTPS", 1732000000, "h1"),
                       msg("10.0.0.7", 22, "SSH", 1732000100, "s1"),
                       msg("2001:db8::7", 22, "SSH", 1732000200, "s6")])
    wait_until(lambda: drained(redis_db, 3))
    cfg = make_config(api={"address": "127.0.0.1:0", "auth": "none"})
    api = inv_popen("api", "start", config=cfg)
    port = int(api.wait_for(r"http server listening.*port=(\d+)").group(1))

    def get(path, status=200):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
                assert r.status == status
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            assert e.code == status, (path, e.code)
            return json.loads(e.read())

    def keys(body):  # pages are in id order, which follows the batches: compare sorted
        return sorted((i["ip"], i["port"], i["service"]) for i in body["items"])

    assert len(get("/api/v1/scans")["items"]) == 3
    assert keys(get("/api/v1/scans/10.0.0.7")) == [("10.0.0.7", 22, "SSH"),
                                                   ("10.0.0.7", 443, "HTTPS")]
    assert keys(get("/api/v1/scans?ip=2001:DB8::7")) == [("2001:db8::7", 22, "SSH")]
    assert keys(get("/api/v1/scans?port=22&service=SSH&since=1732000150")) == [
        ("2001:db8::7", 22, "SSH")]
    assert keys(get("/api/v1/scans?since=2024-11-19T07:08:20Z")) == [
        ("10.0.0.7", 22, "SSH"), ("2001:db8::7", 22, "SSH")]
    one = get("/api/v1/scans/10.0.0.7?service=HTTPS")["items"][0]
    assert one["response"] == "h1" and one["scanned_at"] == "2024-11-19T07:06:40.000000Z"
    page = get("/api/v1/scans?limit=2")
    rest = get(f"/api/v1/scans?limit=2&next={page['next']}")
    assert len(page["items"]) == 2 and len(rest["items"]) == 1 and rest["next"] is None
    assert "is not an IPv4" in get("/api/v1/scans?ip=10.0.0.300", 400)["reason"]
    assert "is not an IPv4" in get("/api/v1/scans/nothing", 400)["reason"]
    assert get("/api/v1/scans/10.0.0.7?ip=1.1.1.1", 400)["reason"] == 'unknown parameter "ip"'
    assert get("/api/v1/scans?sort=port", 400)["reason"] == 'unknown parameter "sort"'
