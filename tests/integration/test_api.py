"""The REST API (`inventory api start`, docs/api.md): data routes driven by
the model registry (list with filters, sort, fields, keyset pagination and
totals; get by id; links), health/ready/version, error shapes (400 naming
the culprit, 404, 405, 431), injection attempts, concurrency and graceful
shutdown."""
import base64
import hashlib
import http.client
import json
import signal
import socket
import threading
import time
import urllib.parse

import pytest

N_INST = 57
READ_TOKEN = "read-token-0123456789"
ADMIN_TOKEN = "admin-token-9876543210"


def sha(t):
    return hashlib.sha256(t.encode()).hexdigest()


TOKENS = [{"name": "reader", "sha256": sha(READ_TOKEN), "scope": "read"},
          {"name": "ops", "sha256": sha(ADMIN_TOKEN).upper(), "scope": "admin"}]


@pytest.fixture
def api(inv, inv_popen, make_config, db):
    cfg = make_config(api={"address": "127.0.0.1:0", "threads": 4, "max_page_size": 50,
                           "tokens": TOKENS})
    assert inv("db", "init", config=cfg).rc == 0
    r = inv("db", "migrate", config=cfg)
    assert r.rc == 0, r.err
    seed(db)
    p = inv_popen("api", "start", config=cfg)
    port = int(p.wait_for(r"http server listening.*port=(\d+)").group(1))
    return Api(port, p, cfg)


class Api:
    def __init__(self, port, proc, cfg):
        self.port, self.proc, self.cfg = port, proc, cfg

    def req(self, path, method="GET", headers=None, timeout=10, token=READ_TOKEN, body=None):
        """A request with the read token unless token is None (or another
        token is given)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        headers = dict(headers or {})
        if token is not None:
            headers.setdefault("Authorization", f"Bearer {token}")
        try:
            c.request(method, path, body=body, headers=headers)
            r = c.getresponse()
            body = r.read()
            ctype = r.getheader("Content-Type")
            parsed = json.loads(body) if body and ctype == "application/json" else None
            return r.status, parsed, ctype, r
        finally:
            c.close()

    def get(self, path, status=200):
        st, body, ctype, _ = self.req(path)
        assert st == status, (path, st, body)
        assert ctype == "application/json"
        return body


def seed(db):
    db.query("INSERT INTO aws_vpc (vpc_id, name, account_id, region_name, is_default) VALUES "
             "('vpc-1', 'main', '111', 'eu-west-1', true), "
             "('vpc-2', 'other', '111', 'us-east-1', false)")
    for i in range(N_INST):
        db.query(
            "INSERT INTO aws_instance (instance_id, name, account_id, state, instance_type, "
            "vpc_id, region_name, launch_time) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (f"i-{i:04d}", f"web-{i % 7}", "111" if i % 3 else "222",
             ["running", "stopped", "pending"][i % 3], ["t3.micro", "m5.large"][i % 2],
             "vpc-1" if i % 2 else "vpc-2", "eu-west-1",
             None if i % 10 == 0 else f"2024-01-{1 + i % 28:02d}T{i % 24:02d}:00:00.{i:06d}Z"))
    vpc1 = db.query("SELECT id FROM aws_vpc WHERE vpc_id = 'vpc-1'")[0][0]
    db.query("INSERT INTO l_aws_vpc_to_instance (vpc_id, instance_id) "
             "SELECT %s, id FROM aws_instance WHERE vpc_id = 'vpc-1'", (vpc1,))


def ids(db, where="true", params=None, order="id"):
    return [r[0] for r in db.query(f"SELECT id FROM aws_instance WHERE {where} ORDER BY {order}",
                                   params)]


def walk(api, path):
    """All items over every page of path."""
    out, url, pages = [], path, 0
    while True:
        body = api.get(url)
        out += body["items"]
        pages += 1
        assert pages < 1000
        if body["next"] is None:
            return out, pages
        sep = "&" if "?" in path else "?"
        url = f"{path}{sep}next={body['next']}"


def test_health_version_ready(api):
    assert api.get("/health") == {"status": "ok"}
    v = api.get("/version")
    assert set(v) == {"version", "commit"} and v["version"]
    r = api.get("/ready")
    assert r["status"] == "ok" and r["checks"] == {"postgres": "ok", "redis": "ok"}


def test_ready_fails_without_redis(inv, inv_popen, make_config, db):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = s.getsockname()[1]
    s.close()
    cfg = make_config(api={"address": "127.0.0.1:0"}, redis={"endpoint": f"127.0.0.1:{dead}"})
    p = inv_popen("api", "start", config=cfg)
    port = int(p.wait_for(r"http server listening.*port=(\d+)").group(1))
    st, body, _, _ = Api(port, p, cfg).req("/ready")
    assert st == 503 and body["checks"] == {"postgres": "ok", "redis": "failed"}
    assert Api(port, p, cfg).get("/health") == {"status": "ok"}


def test_models(api):
    body = api.get("/api/v1/models")
    by = {m["name"]: m for m in body["items"]}
    inst = by["aws:model:instance"]
    assert inst["route"] == "aws/instances" and inst["table"] == "aws_instance"
    cols = {c["name"]: c["type"] for c in inst["columns"]}
    assert cols["id"] == "integer" and cols["launch_time"] == "timestamp"
    assert cols["instance_id"] == "text" and cols["created_at"] == "timestamp"
    assert {"link": "aws:model:link_vpc_to_instance", "model": "aws:model:vpc"} in inst["links"]
    link = by["aws:model:link_vpc_to_instance"]
    assert link["link"] == {"a": "aws:model:vpc", "b": "aws:model:instance"}
    assert by["aws:model:vpc"]["columns"][7] == {"name": "is_default", "type": "boolean"}


def test_list_default_and_typed_values(api, db):
    body = api.get("/api/v1/aws/instances")
    assert set(body) == {"items", "next"}
    assert [i["id"] for i in body["items"]] == ids(db)[:50]  # capped by max_page_size
    first = body["items"][0]
    assert isinstance(first["id"], int) and first["launch_time"] is None
    second = body["items"][1]
    assert second["launch_time"] == "2024-01-02T01:00:00.000001Z"
    assert second["created_at"].endswith("Z")
    vpcs = api.get("/api/v1/aws/vpcs?sort=vpc_id")["items"]
    assert [v["is_default"] for v in vpcs] == [True, False]


@pytest.mark.parametrize("sort,order", [
    ("id", "id"), ("-id", "id DESC"),
    ("name", "name, id"), ("-name", "name DESC, id DESC"),
    ("launch_time", "COALESCE(launch_time, '-infinity') , id"),
    ("-launch_time", "COALESCE(launch_time, '-infinity') DESC, id DESC"),
    ("state", "state, id"),
])
def test_pagination_walks_every_row(api, db, sort, order):
    items, pages = walk(api, f"/api/v1/aws/instances?limit=7&sort={sort}")
    assert [i["id"] for i in items] == ids(db, order=order)
    assert pages == (N_INST + 6) // 7


def test_filters_match_sql(api, db):
    cases = [
        ("state=running", "state = 'running'"),
        ("state__in=running,pending", "state IN ('running', 'pending')"),
        ("name__prefix=web-1", "name LIKE 'web-1%%'"),
        ("id__gt=10&id__lte=20", "id > 10 AND id <= 20"),
        ("launch_time__gte=2024-01-10T00:00:00Z", "launch_time >= '2024-01-10T00:00:00Z'"),
        ("launch_time__lt=2024-01-05", "launch_time < '2024-01-05'"),
        ("account_id=222&instance_type=m5.large", "account_id = '222' AND instance_type = 'm5.large'"),
        ("state=nothing", "false"),
    ]
    for qs, where in cases:
        items, _ = walk(api, f"/api/v1/aws/instances?{qs}&limit=5")
        assert [i["id"] for i in items] == ids(db, where), qs
    vpcs = api.get("/api/v1/aws/vpcs?is_default=true")["items"]
    assert [v["vpc_id"] for v in vpcs] == ["vpc-1"]


def test_fields_total_and_get(api, db):
    body = api.get("/api/v1/aws/instances?fields=instance_id,state&state=stopped&total=true&limit=3")
    assert body["total"] == len(ids(db, "state = 'stopped'"))
    assert all(set(i) == {"instance_id", "state"} for i in body["items"])
    assert list(body) == ["items", "next", "total"]
    i = ids(db)[4]
    one = api.get(f"/api/v1/aws/instances/{i}")
    assert one["id"] == i and one["instance_id"] == "i-0004"
    assert api.get(f"/api/v1/aws/instances/{i}?fields=name") == {"name": "web-4"}
    err = api.get("/api/v1/aws/instances/999999", status=404)
    assert err["error"] == "not found" and "999999" in err["reason"]


def test_links(api, db):
    inst = ids(db, "vpc_id = 'vpc-1'")[0]
    vpc1 = db.query("SELECT id FROM aws_vpc WHERE vpc_id = 'vpc-1'")[0][0]
    assert api.get(f"/api/v1/aws/instances/{inst}/links")["items"] == [
        {"link": "aws:model:link_vpc_to_instance", "model": "aws:model:vpc",
         "route": "aws/vpcs", "id": vpc1}]
    got = api.get(f"/api/v1/aws/vpcs/{vpc1}/links")["items"]
    assert sorted(g["id"] for g in got) == ids(db, "vpc_id = 'vpc-1'")
    assert {g["model"] for g in got} == {"aws:model:instance"}
    api.get("/api/v1/aws/vpcs/424242/links", status=404)
    # link tables are models too
    rows = api.get("/api/v1/aws/link_vpc_to_instance?limit=50")["items"]
    assert len(rows) == len(ids(db, "vpc_id = 'vpc-1'"))


BAD = [
    ("/api/v1/aws/instances?nosuch=1", 'unknown column "nosuch"'),
    ("/api/v1/aws/instances?state__like=x", 'unknown operator "__like"'),
    ("/api/v1/aws/instances?state__gt=x", "number or timestamp"),
    ("/api/v1/aws/instances?id__prefix=1", "text column"),
    ("/api/v1/aws/instances?id=1'%20OR%201=1--", "not a 64-bit integer"),
    ("/api/v1/aws/instances?id=99999999999999999999", "not a 64-bit integer"),
    ("/api/v1/aws/instances?id__in=1,2,x", "not a 64-bit integer"),
    ("/api/v1/aws/instances?launch_time__gt=2024-02-30", "RFC 3339"),
    ("/api/v1/aws/instances?launch_time__gt=yesterday", "RFC 3339"),
    ("/api/v1/aws/instances?sort=id;drop%20table%20aws_instance", 'unknown column "id;drop'),
    ("/api/v1/aws/instances?sort=nosuch", 'unknown column "nosuch"'),
    ("/api/v1/aws/instances?fields=id,bogus", 'unknown column "bogus"'),
    ("/api/v1/aws/instances?limit=0", "limit"),
    ("/api/v1/aws/instances?limit=51", "limit"),
    ("/api/v1/aws/instances?limit=abc", "limit"),
    ("/api/v1/aws/instances?total=maybe", "total"),
    ("/api/v1/aws/instances?next=garbage!", "cursor"),
    ("/api/v1/aws/instances?next=", "cursor"),
    ("/api/v1/aws/instances?state=%zz", "percent"),
    ("/api/v1/aws/instances?state=a%00b", "percent"),
    ("/api/v1/aws/instances?state=a&state=b", "twice"),
    ("/api/v1/aws/instances/abc", "id"),
    ("/api/v1/aws/instances/99999999999999999999999", "id"),
    ("/api/v1/aws/instances/1?sort=id", 'unknown parameter "sort"'),
    ("/api/v1/models?x=1", 'unknown parameter "x"'),
]


@pytest.mark.parametrize("path,needle", BAD)
def test_bad_requests(api, db, path, needle):
    st, body, ctype, _ = api.req(path)
    assert st == 400 and ctype == "application/json", (path, st, body)
    assert body["error"] == "bad request" and needle in body["reason"], body
    text = json.dumps(body).lower()
    for leak in ("select", "postgres", "sqlstate", "syntax", "password"):
        assert leak not in text
    assert db.query("SELECT count(*) FROM aws_instance")[0][0] == N_INST


def b64(obj):
    raw = json.dumps(obj, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_forged_cursors(api):
    good = api.get("/api/v1/aws/instances?limit=5&sort=name")["next"]
    assert good
    forged = [
        b64({"s": "name", "v": "x", "i": "1"}),       # id not a number
        b64({"s": "name", "v": 5, "i": 1}),           # value of the wrong type
        b64({"s": "name", "v": "x", "i": 1, "z": 0}),  # extra key
        b64({"s": "name", "v": "x", "i": -4}),        # id out of range
        b64({"s": "name", "v": "x", "i": 2**70}),     # overflow
        b64(["name", "x", 1]),
        b64({"s": "name", "v": "x"}),
        good[:-3], good + "A", good + "=", "%2F%2F%2F%2F",
    ]
    for c in forged:
        st, body, _, _ = api.req(f"/api/v1/aws/instances?limit=5&sort=name&next={c}")
        assert st == 400 and "cursor" in body["reason"], (c, body)
    # a cursor made for another sort is refused
    st, body, _, _ = api.req(f"/api/v1/aws/instances?limit=5&sort=-name&next={good}")
    assert st == 400 and "another sort" in body["reason"]
    # a well-formed cursor with a quote in the value is just a value
    c = b64({"s": "name", "v": "x' OR 1=1--", "i": 1})
    assert api.get(f"/api/v1/aws/instances?limit=5&sort=name&next={c}")["items"] == []


def test_not_found_and_method(api):
    for path in ("/nope", "/api/v1/aws/nothings", "/api/v1/aws", "/api/v2/models",
                 "/api/v1/aws/instances/1/links/x", "/health/"):
        st, body, ctype, _ = api.req(path)
        assert st == 404 and ctype == "application/json" and body["error"] == "not found", path
    for m in ("POST", "DELETE", "PUT"):
        st, body, _, r = api.req("/api/v1/aws/instances", method=m)
        assert st == 405 and body["error"] == "method not allowed"
        assert r.getheader("Allow") == "GET, HEAD"
    st, body, _, _ = api.req("/health", method="HEAD")
    assert st == 200 and body is None


def test_huge_headers_and_url(api):
    st, _, _, _ = api.req("/health", headers={"X-Big": "a" * 100000})
    assert st in (400, 431)
    st, _, _, _ = api.req("/api/v1/aws/instances?state=" + "a" * 100000)
    assert st in (400, 414, 431)
    assert api.get("/health") == {"status": "ok"}


def test_concurrent_clients(api, db):
    errors = []
    want = ids(db, "state = 'running'")

    def client():
        try:
            c = http.client.HTTPConnection("127.0.0.1", api.port, timeout=20)
            for k in range(50):
                path = ("/api/v1/aws/instances?state=running&limit=50" if k % 2
                        else f"/api/v1/aws/instances/{want[k % len(want)]}")
                c.request("GET", path, headers={"Authorization": f"Bearer {READ_TOKEN}"})
                r = c.getresponse()
                body = json.loads(r.read())
                if r.status != 200:
                    errors.append((r.status, body))
                elif k % 2 and [i["id"] for i in body["items"]] != want:
                    errors.append("wrong items")
            c.close()
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    ts = [threading.Thread(target=client) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []


def test_a_blocked_request_holds_up_no_other_connection(api, db):
    # Requests go to whichever worker is free, not to a thread that owns the
    # connection: with one request stuck behind a lock, every other
    # connection (already open, so spread over libmicrohttpd's threads) is
    # still answered at once.
    conns = [http.client.HTTPConnection("127.0.0.1", api.port, timeout=5) for _ in range(16)]
    auth = {"Authorization": f"Bearer {READ_TOKEN}"}

    def get(c, path):
        c.request("GET", path, headers=auth)
        r = c.getresponse()
        return r.status, json.loads(r.read())

    for c in conns:
        assert get(c, "/api/v1/aws/vpcs")[0] == 200
    db.query("BEGIN")
    db.query("LOCK TABLE aws_instance IN ACCESS EXCLUSIVE MODE")
    blocked = []
    conns[0].timeout = 20
    t = threading.Thread(target=lambda: blocked.append(get(conns[0], "/api/v1/aws/instances?limit=3")))
    try:
        t.start()
        time.sleep(0.3)  # the request is in PostgreSQL, waiting for the lock
        for c in conns[1:]:
            st, body = get(c, "/api/v1/aws/vpcs")  # times out (5 s) if queued behind it
            assert st == 200 and len(body["items"]) == 2
        assert blocked == []
    finally:
        db.query("COMMIT")
        t.join()
    assert blocked[0][0] == 200 and len(blocked[0][1]["items"]) == 3
    for c in conns:
        c.close()


def test_graceful_shutdown_with_requests_in_flight(api, db):
    # Hold a row lock so list queries block, then SIGTERM while they wait.
    results = []
    db.query("BEGIN")
    db.query("LOCK TABLE aws_instance IN ACCESS EXCLUSIVE MODE")

    def client():
        st, body, _, _ = api.req("/api/v1/aws/instances?limit=3", timeout=20)
        results.append((st, len(body["items"])))

    ts = [threading.Thread(target=client) for _ in range(6)]  # two wait for a worker
    for t in ts:
        t.start()
    time.sleep(0.5)
    api.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    # no longer accepting
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", api.port), timeout=2).recv(1)
    db.query("COMMIT")
    for t in ts:
        t.join()
    assert results == [(200, 3)] * 6
    r = api.proc.wait(timeout=15)
    assert r.rc == 0, r.err


def test_shutdown_answers_requests_still_queued(inv, inv_popen, make_config, db):
    # api.request_timeout 1 s and two workers held by a lock: each pair of
    # requests answers 504 after 1 s, and on SIGTERM the drain gives up
    # after 1 s: the requests still queued then are answered 503, none is
    # dropped, and the process exits 0.
    cfg = make_config(api={"address": "127.0.0.1:0", "threads": 2, "request_timeout": "1s",
                           "auth": "none"})
    assert inv("db", "init", config=cfg).rc == 0
    assert inv("db", "migrate", config=cfg).rc == 0
    p = inv_popen("api", "start", config=cfg)
    port = int(p.wait_for(r"http server listening.*port=(\d+)").group(1))
    results = []

    def client():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        c.request("GET", "/api/v1/aws/instances?limit=1")
        r = c.getresponse()
        results.append((r.status, json.loads(r.read())["error"]))
        c.close()

    db.query("BEGIN")
    db.query("LOCK TABLE aws_instance IN ACCESS EXCLUSIVE MODE")
    ts = [threading.Thread(target=client) for _ in range(8)]
    try:
        for t in ts:
            t.start()
        time.sleep(0.3)
        p.send_signal(signal.SIGTERM)
        for t in ts:
            t.join()
    finally:
        db.query("ROLLBACK")
    assert len(results) == 8
    assert {st for st, _ in results} == {503, 504}, results
    assert all(err == "shutting down" for st, err in results if st == 503), results
    r = p.wait(timeout=15)
    assert r.rc == 0, r.err


def test_config_keys(inv, make_config):
    cfg = make_config(api={"address": "nope", "threads": 2})
    r = inv("api", "start", config=cfg)
    assert r.rc == 2 and "api.address" in r.err
    cfg = make_config(api={"max_page_size": 0})
    r = inv("api", "start", config=cfg)
    assert r.rc == 2 and "api.max_page_size" in r.err


def test_url_quoting_roundtrip(api, db):
    db.query("UPDATE aws_instance SET name = 'a&b=c d,e' WHERE instance_id = 'i-0003'")
    q = urllib.parse.quote("a&b=c d,e", safe="")
    items = api.get(f"/api/v1/aws/instances?name={q}")["items"]
    assert [i["instance_id"] for i in items] == ["i-0003"]


def test_auth_on_read_routes(api):
    for path in ("/api/v1/models", "/api/v1/aws/instances?limit=1", "/api/v1/aws/instances/1"):
        for token, want in ((None, 401), ("wrong", 401), ("", 401), (READ_TOKEN, 200),
                            (ADMIN_TOKEN, 200)):
            st, body, ctype, r = api.req(path, token=token)
            assert st in (want, 404 if want == 200 else want), (path, token, st, body)
            assert ctype == "application/json"
            if want == 401:
                assert body["error"] == "unauthorized"
                assert r.getheader("WWW-Authenticate") == "Bearer"
                # the presented token is never echoed
                assert "wrong" not in json.dumps(body)
    # other schemes and a bare "Bearer" are refused
    for h in ("Basic " + base64.b64encode(b"a:b").decode(), "Bearer", "Bearer  ",
              f"Token {READ_TOKEN}"):
        st, body, _, _ = api.req("/api/v1/models", headers={"Authorization": h}, token=None)
        assert st == 401, h
    st, _, _, _ = api.req("/api/v1/models", headers={"Authorization": f"bearer {READ_TOKEN}"},
                          token=None)
    assert st == 200
    # open routes need no token
    for path in ("/health", "/ready", "/version"):
        st, _, _, _ = api.req(path, token=None)
        assert st == 200, path
    # the server log never carries a token
    api.proc.send_signal(signal.SIGTERM)
    r = api.proc.wait(timeout=15)
    assert READ_TOKEN not in r.err and ADMIN_TOKEN not in r.err and "wrong" not in r.err


def test_auth_none_opens_reads(inv, inv_popen, make_config, db):
    cfg = make_config(api={"address": "127.0.0.1:0", "auth": "none", "tokens": TOKENS})
    assert inv("db", "init", config=cfg).rc == 0
    assert inv("db", "migrate", config=cfg).rc == 0
    p = inv_popen("api", "start", config=cfg)
    port = int(p.wait_for(r"http server listening.*port=(\d+)").group(1))
    a = Api(port, p, cfg)
    for token in (None, READ_TOKEN, ADMIN_TOKEN):
        st, body, _, _ = a.req("/api/v1/aws/instances?limit=1", token=token)
        assert st == 200, (token, body)


def raw(port, head, chunks=()):
    """Sends head and chunks on a raw socket (the server may answer and close
    before it has read them all) and returns the status and JSON body."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        try:
            s.sendall(head)
            for c in chunks:
                s.sendall(c)
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = b""
        try:
            while True:
                got = s.recv(65536)
                if not got:
                    break
                data += got
                if b"\r\n\r\n" in data and data.rstrip().endswith(b"}"):
                    break
        except ConnectionResetError:
            pass
    finally:
        s.close()
    head_text, _, body = data.partition(b"\r\n\r\n")
    return int(head_text.split()[1]), json.loads(body.decode().strip().split("\r\n")[-1])


def test_body_limit(api):
    auth = f"Authorization: Bearer {READ_TOKEN}\r\n".encode()
    # a declared body over 1 MiB is refused before it is sent
    st, body = raw(api.port, b"GET /api/v1/models HTTP/1.1\r\nHost: x\r\n" + auth +
                   b"Content-Length: 1048577\r\n\r\n")
    assert st == 413 and body["error"] == "payload too large"
    st, body, _, _ = api.req("/api/v1/models", body=b"x" * 1000)
    assert st == 200
    st, body, _, _ = api.req("/api/v1/models", body=b"x" * (1 << 20))
    assert st == 200
    # chunked, no Content-Length: counted as it arrives
    chunk = b"10000\r\n" + b"y" * 65536 + b"\r\n"
    st, body = raw(api.port, b"GET /api/v1/models HTTP/1.1\r\nHost: x\r\n" + auth +
                   b"Transfer-Encoding: chunked\r\n\r\n", [chunk] * 20 + [b"0\r\n\r\n"])
    assert st == 413 and body["error"] == "payload too large"
    assert api.get("/health") == {"status": "ok"}


@pytest.mark.parametrize("tokens,needle", [
    ("nope", "api.tokens: expected a sequence of tokens"),
    ([{"name": "a", "sha256": "abc", "scope": "read"}], "api.tokens[0].sha256: expected 64 hex"),
    ([{"name": "a", "sha256": "g" * 64, "scope": "read"}], "api.tokens[0].sha256"),
    ([{"name": "a", "sha256": "a" * 64, "scope": "root"}],
     "api.tokens[0].scope: expected one of read, admin"),
    ([{"name": "a", "sha256": "a" * 64}], 'api.tokens[0]: missing "scope"'),
    ([{"name": "a", "sha256": "a" * 64, "scope": "read", "x": 1}], "unknown key"),
    ([{"name": "a", "sha256": "a" * 64, "scope": "read"},
      {"name": "a", "sha256": "b" * 64, "scope": "read"}], "api.tokens[1].name: duplicate"),
])
def test_token_config_errors(inv, make_config, tokens, needle):
    cfg = make_config(api={"tokens": tokens})
    r = inv("api", "start", config=cfg)
    assert r.rc == 2 and needle in r.err, r.err
    assert ".yaml:" in r.err  # file:line


def test_auth_config_error(inv, make_config):
    r = inv("api", "start", config=make_config(api={"auth": "maybe"}))
    assert r.rc == 2 and "api.auth" in r.err and "token, none" in r.err


def test_metrics(api):
    import re
    import shutil
    import subprocess
    api.get("/api/v1/aws/instances?limit=2")
    api.get("/api/v1/aws/instances/1")
    api.req("/api/v1/models", token=None)  # 401
    api.req("/nope")  # 404
    st, _, ctype, r = api.req("/metrics", token=None)
    assert st == 200 and ctype.startswith("text/plain; version=0.0.4")
    c = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    c.request("GET", "/metrics")
    body = c.getresponse().read().decode()
    c.close()
    assert re.search(r'^inventory_api_requests_total\{route="/api/v1/:source/:model",'
                     r'method="GET",code="200"\} 1$', body, re.M), body
    assert re.search(r'^inventory_api_requests_total\{route="/api/v1/:source/:model/:id",'
                     r'method="GET",code="200"\} 1$', body, re.M)
    assert re.search(r'^inventory_api_requests_total\{route="/api/v1/models",'
                     r'method="GET",code="401"\} 1$', body, re.M)
    assert re.search(r'^inventory_api_requests_total\{route="unmatched",'
                     r'method="GET",code="404"\} 1$', body, re.M)
    assert re.search(r'^inventory_api_request_duration_seconds_count\{'
                     r'route="/api/v1/:source/:model"\} 1$', body, re.M)
    assert re.search(r'^inventory_api_request_duration_seconds_bucket\{'
                     r'route="/api/v1/:source/:model",le="\+Inf"\} 1$', body, re.M)
    # the scrape itself is in flight (an earlier request may still be
    # completing on another thread)
    m = re.search(r"^inventory_api_requests_in_flight (\d+)$", body, re.M)
    assert m and 1 <= int(m.group(1)) <= 2, body
    assert READ_TOKEN not in body
    promtool = shutil.which("promtool")
    assert promtool, "promtool is part of the test stack"
    r = subprocess.run([promtool, "check", "metrics"], input=body.encode(), capture_output=True,
                       timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


def test_token_helper(inv, inv_popen, make_config, db):
    r = inv("api", "token")
    assert r.rc == 0, r.err
    fields = dict(line.split(":", 1) for line in r.out.splitlines())
    tok, h = fields["token"].strip(), fields["sha256"].strip()
    assert len(tok) == 48 and hashlib.sha256(tok.encode()).hexdigest() == h
    assert inv("api", "token").out != r.out
    # the printed hash is accepted in api.tokens and the token then works
    cfg = make_config(api={"address": "127.0.0.1:0",
                           "tokens": [{"name": "new", "sha256": h, "scope": "read"}]})
    p = inv_popen("api", "start", config=cfg)
    port = int(p.wait_for(r"http server listening.*port=(\d+)").group(1))
    st, _, _, _ = Api(port, p, cfg).req("/api/v1/models", token=tok)
    assert st == 200


def test_text_escapes_roundtrip(api, db):
    # Answers are written as JSON text directly: quotes, backslashes and
    # control characters must be escaped (json.loads rejects raw ones), UTF-8
    # passed through.
    tricky = 'q"b\\s/\x01\x1f\n\r\t\x7f é 💡 \u2028 end'
    db.query("UPDATE aws_instance SET name = %s WHERE instance_id = 'i-0005'", (tricky,))
    i = ids(db, "instance_id = 'i-0005'")[0]
    assert api.get(f"/api/v1/aws/instances/{i}?fields=name") == {"name": tricky}
    assert api.get(f"/api/v1/aws/instances?id={i}")["items"][0]["name"] == tricky
    q = urllib.parse.quote(tricky, safe="")
    assert [x["id"] for x in api.get(f"/api/v1/aws/instances?name={q}")["items"]] == [i]


def test_many_query_shapes_and_reconnect(api, db):
    # Each connection keeps 32 prepared statements; more distinct shapes than
    # all four threads keep (4 x 32) are prepared again when evicted, and all
    # are prepared afresh after the server drops the API's sessions.
    cols = ["name", "state", "account_id", "instance_type", "vpc_id", "region_name",
            "instance_id"]
    row = dict(zip(cols, db.query(f"SELECT {', '.join(cols)} FROM aws_instance "
                                  "WHERE instance_id = 'i-0004'")[0]))
    shapes = [(a,) for a in cols] + [(a, b) for a in cols for b in cols if a < b]
    shapes += [(a + "__prefix",) for a in cols]
    sorts = {"id": "id", "-id": "id DESC", "name": "name, id", "-name": "name DESC, id DESC"}
    assert len(shapes) * len(sorts) > 4 * 32
    for rnd in range(2):
        for shape, sort in ((sh, so) for sh in shapes for so in sorts):
            qs = "&".join(f"{c}={urllib.parse.quote(row[c.split('__')[0]])}" for c in shape)
            where = " AND ".join(
                f"{c.split('__')[0]} LIKE %s" if c.endswith("__prefix") else f"{c} = %s"
                for c in shape)
            want = ids(db, where, [row[c.split('__')[0]] + ("%" if c.endswith("__prefix") else "")
                                   for c in shape], order=sorts[sort])
            got = [x["id"] for x in
                   api.get(f"/api/v1/aws/instances?{qs}&sort={sort}&limit=50")["items"]]
            assert got == want[:50] and got, (rnd, qs, sort)
        if rnd == 0:
            killed = db.query("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                              "WHERE datname = current_database() "
                              "AND application_name = 'inventory'")[0][0]
            assert killed >= 1
