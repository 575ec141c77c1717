"""The host-based inventory API under /api/inventory/v1 (src/api/hbi.c,
docs/api.md): x-rh-identity (401s), tenancy (org and System owner scoping),
GET /hosts with every filter, ordering and paging, the {host_id_list}
routes, tags, host_exists, check-in, POST /hosts (host_store), per-org
staleness (computed on read; culled hosts invisible everywhere; overrides),
PATCH/DELETE and their events on hosts.events, bad input (400 JSON), and
reads on api.database.dsn while writes go to database.dsn."""
import base64
import json
import http.client
import time
import urllib.parse
import uuid

import pytest

from streams import assert_host_counts
from test_api import TOKENS

PREFIX = "/api/inventory/v1"
EVENTS = "platform.inventory.events"
DAY = 86400


def ident(org="org-a", type="User", cn=None, raw=None):
    """The x-rh-identity value for an identity (raw: the JSON text as is)."""
    if raw is None:
        identity = {"org_id": org, "type": type}
        if cn is not None:
            identity["system"] = {"cn": cn}
        raw = json.dumps({"identity": identity})
    return base64.b64encode(raw.encode() if isinstance(raw, str) else raw).decode()


class Hbi:
    def __init__(self, port, proc, cfg, db, redis):
        self.port, self.proc, self.cfg, self.db, self.redis = port, proc, cfg, db, redis

    def req(self, method, path, org="org-a", identity=None, body=None, headers=None):
        """(status, parsed JSON or None, response). identity overrides org;
        identity=False sends none."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = dict(headers or {})
        if identity is not False:
            h.setdefault("x-rh-identity", identity if identity else ident(org))
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        try:
            c.request(method, PREFIX + path, body=data, headers=h)
            r = c.getresponse()
            raw = r.read()
            parsed = json.loads(raw) if raw and r.getheader("Content-Type") == "application/json" \
                else None
            if raw and parsed is None:
                pytest.fail(f"{method} {path}: body without a JSON type: {raw[:200]!r}")
            return r.status, parsed, r
        finally:
            c.close()

    def get(self, path, status=200, **kw):
        st, body, _ = self.req("GET", path, **kw)
        assert st == status, (path, st, body)
        return body

    def ids(self, path, **kw):
        return [h["id"] for h in self.get(path, **kw)["results"]]

    def events(self):
        return [dict(fields, data=json.loads(fields["data"]))
                for _, fields in self.redis.xrange(EVENTS)]


def start(inv, inv_popen, make_config, db, redis_db, **api):
    cfg = make_config(api={"address": "127.0.0.1:0", "threads": 2, "tokens": TOKENS, **api})
    assert inv("db", "init", config=cfg).rc == 0
    r = inv("db", "migrate", config=cfg)
    assert r.rc == 0, r.err
    p = inv_popen("api", "start", config=cfg)
    port = int(p.wait_for(r"http server listening.*port=(\d+)").group(1))
    return Hbi(port, p, cfg, db, redis_db)


@pytest.fixture
def hbi(inv, inv_popen, make_config, db, redis_db):
    return start(inv, inv_popen, make_config, db, redis_db)


_seq = [0]


def insert_host(db, org="org-a", age=0, **cols):
    """Inserts a host with SQL; age: seconds since its last check-in (and
    last update unless updated_age is given). Returns its id."""
    _seq[0] += 1
    n = _seq[0]
    hid = cols.pop("id", str(uuid.uuid4()))
    updated_age = cols.pop("updated_age", age)
    row = {"display_name": f"host-{n:04d}", "insights_id": str(uuid.uuid4()), **cols}
    for k in ("tags", "facts", "system_profile", "per_reporter_staleness"):
        if k in row:
            row[k] = json.dumps(row[k])
    names = list(row)
    casts = {"tags": "::jsonb", "facts": "::jsonb", "system_profile": "::jsonb",
             "per_reporter_staleness": "::jsonb", "insights_id": "::uuid",
             "subscription_manager_id": "::uuid", "owner_id": "::uuid"}
    values = ", ".join(f"%s{casts.get(k, '')}" for k in names)
    db.query(f"INSERT INTO hbi_host (id, org_id, {', '.join(names)}, last_check_in, modified_on) "
             f"VALUES (%s, %s, {values}, now() - make_interval(secs => %s), "
             f"now() - make_interval(secs => %s))",
             [hid, org, *[row[k] for k in names], age, updated_age])
    return hid


def doc(db, hid):
    """The host as hbi_host_doc serializes it, straight from SQL."""
    return db.query("SELECT hbi_host_doc(h, s.stale, s.warn, s.cull) FROM hbi_host h, "
                    "hbi_org_staleness(h.org_id) s WHERE h.id = %s", (hid,))[0][0]


def parse_ts(s):
    from datetime import datetime
    return datetime.fromisoformat(s)


# --- identity -------------------------------------------------------------------

@pytest.mark.parametrize("value,needle", [
    (None, "missing x-rh-identity"),
    ("!!!not base64!!!", "identity"),
    (base64.b64encode(b"not json").decode(), "identity"),
    (ident(raw=json.dumps({"identity": {"type": "User"}})), "org_id"),
    (ident(org="x" * 37), "org_id"),
    (ident(type="Robot"), "type"),
    (ident(type="System"), "cn"),
    (ident(raw=json.dumps({"nope": {}})), "identity"),
])
def test_identity_errors_are_401(hbi, value, needle):
    for method, path in (("GET", "/hosts"), ("GET", "/tags"), ("POST", "/hosts"),
                         ("GET", "/account/staleness"), ("DELETE", f"/hosts/{uuid.uuid4()}")):
        st, body, r = hbi.req(method, path, identity=value if value else False,
                              body=[] if method == "POST" else None)
        assert st == 401, (method, path, body)
        assert body["error"] == "unauthorized" and needle in body["reason"], body
        assert body["status"] == 401 and body["title"] == "Unauthorized"
        assert body["detail"] == body["reason"]
        assert r.getheader("WWW-Authenticate") is None  # no bearer scheme here
    # the document needs no identity; no bearer token anywhere
    st, body, _ = hbi.req("GET", "/openapi.json", identity=False)
    assert st == 200 and body["openapi"] == "3.1.0"


def test_identity_forms_accepted(hbi):
    insert_host(hbi.db, org="o-1")
    for value in (ident(org="o-1"), ident(org="o-1").rstrip("="),
                  ident(raw=json.dumps({"identity": {"type": "ServiceAccount",
                                                     "internal": {"org_id": "o-1"}}})),
                  ident(org="o-1", type="User", cn="ignored")):
        assert hbi.get("/hosts", identity=value)["total"] == 1, value


# --- GET /hosts -------------------------------------------------------------------

def test_list_envelope_defaults_and_docs(hbi):
    db = hbi.db
    ids = [insert_host(db, age=i, updated_age=100 - i) for i in range(60)]
    body = hbi.get("/hosts")
    assert list(body) == ["total", "count", "page", "per_page", "results"]
    assert (body["total"], body["count"], body["page"], body["per_page"]) == (60, 50, 1, 50)
    # default: updated, newest first
    assert [h["id"] for h in body["results"]] == list(reversed(ids))[:50]
    for h in body["results"][:3]:
        assert h == doc(db, h["id"])
    last = hbi.get("/hosts?page=2")
    assert last["count"] == 10 and last["total"] == 60
    assert [h["id"] for h in last["results"]] == list(reversed(ids))[50:]
    # an empty page past the last is HBI's 404; the first page of nothing is not
    body = hbi.get("/hosts?page=3", status=404)
    assert body["error"] == "not found" and body["status"] == 404
    assert hbi.get("/hosts?per_page=7&page=9")["count"] == 4
    assert hbi.get("/hosts", org="nobody") == {"total": 0, "count": 0, "page": 1,
                                               "per_page": 50, "results": []}


def test_filters(hbi):
    db = hbi.db
    a = insert_host(db, display_name="Web-Alpha", fqdn="web-alpha.example.com",
                    provider_type="aws", provider_id="i-0abc", updated_age=3 * DAY)
    b = insert_host(db, display_name="db-beta", fqdn="db.example.com", updated_age=DAY)
    c = insert_host(db, display_name="cache", fqdn="web-gamma.example.com",
                    provider_type="azure", provider_id="vm-9")
    iid = db.query("SELECT insights_id FROM hbi_host WHERE id = %s", (b,))[0][0]
    q = urllib.parse.quote
    cases = [
        ("display_name=WEB", [a]),
        ("display_name=a", [a, b, c]),
        ("fqdn=WEB-ALPHA.example.COM", [a]),
        ("fqdn=web-alpha", []),                  # equal, not a substring
        ("hostname_or_id=WEB", [a, c]),          # display_name or fqdn substring
        ("hostname_or_id=beta", [b]),
        (f"hostname_or_id={c}", [c]),            # or the id
        (f"insights_id={iid}", [b]),
        (f"insights_id={str(iid).upper()}", [b]),
        ("provider_type=aws", [a]),
        ("provider_id=I-0ABC", [a]),
        ("provider_type=azure&provider_id=vm-9", [c]),
        ("provider_type=aws&provider_id=vm-9", []),
        ("updated_start=" + q(time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                            time.gmtime(time.time() - 2 * DAY))), [b, c]),
        ("updated_end=" + q(time.strftime("%Y-%m-%dT%H:%M:%S+00:00",
                                          time.gmtime(time.time() - 2 * DAY))), [a]),
        ("display_name=&fqdn=", [a, b, c]),      # empty values: no filter (HBI)
    ]
    for qs, want in cases:
        assert sorted(hbi.ids(f"/hosts?{qs}")) == sorted(want), qs


def test_tags_filter(hbi):
    db = hbi.db
    a = insert_host(db, tags={"insights-client": {"env": ["prod"], "team": ["a/b=c"]},
                              "": {"solo": [None]}})
    b = insert_host(db, tags={"insights-client": {"env": ["dev"]}, "aws": {"env": ["prod"]}})
    c = insert_host(db, tags={})
    q = urllib.parse.quote
    cases = [
        ("tags=insights-client/env=prod", [a]),
        ("tags=insights-client/env", [a, b]),        # value optional
        ("tags=aws/env=prod", [b]),
        ("tags=solo", [a]),                          # no namespace: the null namespace
        ("tags=/solo", [a]),
        ("tags=env=prod", []),                       # null namespace has no env
        ("tags=insights-client/env=prod&tags=aws/env=prod", []),   # AND
        ("tags=insights-client/env&tags=aws/env", [b]),
        ("tags=insights-client/team=" + q(q("a/b=c", safe=""), safe=""), [a]),  # parts encoded
        ("tags=insights-client/team=a", []),
    ]
    for qs, want in cases:
        assert sorted(hbi.ids(f"/hosts?{qs}")) == sorted(want), qs
    assert c not in hbi.ids("/hosts?tags=insights-client/env")
    for bad in ("tags=ns/=v", "tags=", "tags=" + "a" * 256 + "/k=v", "tags=ns/" + "k" * 256,
                "tags=ns/k=" + "v" * 256, "tags=ns%25zz/k"):
        body = hbi.get(f"/hosts?{bad}", status=400)
        assert body["error"] == "bad request" and body["reason"].startswith("tags"), bad
    # the containment test can use the GIN index (jsonb_path_ops)
    db.query("SET enable_seqscan = off")
    plan = db.query("EXPLAIN SELECT id FROM hbi_host WHERE "
                    "tags @> '{\"aws\": {\"env\": [\"prod\"]}}'::jsonb")
    db.query("RESET enable_seqscan")
    assert any("hbi_host_tags" in row[0] for row in plan), plan


def test_registered_with(hbi):
    db = hbi.db
    ins = insert_host(db, reporter="puptoo",
                      per_reporter_staleness={"puptoo": {"last_check_in": "2100-01-01T00:00:00Z"}})
    old = insert_host(db, insights_id=None, subscription_manager_id=str(uuid.uuid4()),
                      per_reporter_staleness={"yupana": {"last_check_in": "2000-01-01T00:00:00Z"},
                                              "rhsm-conduit": {"last_check_in":
                                                               "2100-01-01T00:00:00Z"}})
    cases = [
        ("registered_with=insights", [ins]),
        ("registered_with=puptoo", [ins]),
        ("registered_with=yupana", []),              # its own check-in is culled
        ("registered_with=rhsm-conduit", [old]),
        ("registered_with=!puptoo", [old]),
        ("registered_with=!yupana", [ins]),
        ("registered_with=puptoo&registered_with=rhsm-conduit", [ins, old]),   # any of
        ("registered_with=puptoo,rhsm-conduit", [ins, old]),
    ]
    for qs, want in cases:
        assert sorted(hbi.ids(f"/hosts?{qs}")) == sorted(want), qs
    for bad in ("registered_with=nope", "registered_with=!insights", "registered_with=puptoo,"):
        assert hbi.get(f"/hosts?{bad}", status=400)["reason"].startswith("registered_with")


def test_order_and_paging(hbi):
    db = hbi.db
    rows = [("b", 5, 30, ("RHEL", 8, 4)), ("A", 1, 10, ("RHEL", 9, 0)), ("c", 3, 20, None),
            ("a2", 4, 40, ("CentOS", 7, 9))]
    ids = {}
    for name, upd, seen, os_ in rows:
        sp = {"operating_system": {"name": os_[0], "major": os_[1], "minor": os_[2]}} if os_ \
            else {}
        ids[name] = insert_host(db, display_name=name, updated_age=upd, age=seen,
                                system_profile=sp)
    by = {}
    for order in ("updated", "display_name", "last_check_in", "operating_system"):
        for how in ("", "&order_how=ASC", "&order_how=DESC"):
            by[order + how] = [n for h in hbi.get(f"/hosts?order_by={order}{how}")["results"]
                               for n, i in ids.items() if i == h["id"]]
    assert by["updated"] == by["updated&order_how=DESC"] == ["A", "c", "a2", "b"]
    assert by["updated&order_how=ASC"] == ["b", "a2", "c", "A"]
    assert by["display_name"] == by["display_name&order_how=ASC"] == ["A", "a2", "b", "c"]
    assert by["display_name&order_how=DESC"] == ["c", "b", "a2", "A"]
    assert by["last_check_in"] == ["A", "c", "b", "a2"]
    assert by["last_check_in&order_how=ASC"] == ["a2", "b", "c", "A"]
    assert by["operating_system"] == ["A", "b", "a2", "c"]   # newest first, none last
    assert by["operating_system&order_how=ASC"] == ["a2", "b", "A", "c"]
    # pages partition the ordered list
    seen = []
    for page in (1, 2):
        seen += hbi.ids(f"/hosts?order_by=display_name&per_page=2&page={page}")
    assert seen == [ids[n] for n in ("A", "a2", "b", "c")]
    for bad, needle in (("order_by=fqdn", "order_by"), ("order_how=ASC", "order_how"),
                        ("order_by=display_name&order_how=asc", "order_how"),
                        ("per_page=0", "per_page"), ("per_page=101", "per_page"),
                        ("page=0", "page"), ("page=x", "page"), ("page=21474838", "page")):
        assert needle in hbi.get(f"/hosts?{bad}", status=400)["reason"], bad
    assert hbi.get("/hosts?per_page=100")["per_page"] == 100


def test_bad_parameters_are_400_json(hbi):
    for qs, needle in (("nope=1", "unknown parameter"), ("insights_id=zz", "insights_id"),
                       ("provider_type=AWS", "provider_type"),
                       ("updated_start=yesterday", "updated_start"),
                       ("updated_end=2024-13-01", "updated_end"),
                       ("staleness=old", "staleness"), ("staleness=fresh,", "staleness"),
                       ("fqdn=a&fqdn=b", "given twice"), ("display_name=%zz", "percent"),
                       ("search=x", "unknown parameter")):
        st, body, r = hbi.req("GET", f"/hosts?{qs}")
        assert st == 400 and r.getheader("Content-Type") == "application/json", qs
        assert body["error"] == "bad request" and needle in body["reason"], (qs, body)
        assert body["title"] == "Bad Request" and body["status"] == 400


# --- staleness ---------------------------------------------------------------------

def test_staleness_computed_and_culled_invisible(hbi):
    db = hbi.db
    fresh = insert_host(db, age=3600, insights_id="11111111-1111-1111-1111-111111111111",
                        tags={"ns": {"k": ["v"]}})
    stale = insert_host(db, age=30 * 3600, tags={"ns": {"k": ["v"]}})
    warn = insert_host(db, age=8 * DAY)
    culled = insert_host(db, age=31 * DAY, insights_id="22222222-2222-2222-2222-222222222222",
                         tags={"ns": {"gone": ["v"]}})
    assert sorted(hbi.ids("/hosts")) == sorted([fresh, stale, warn])
    for states, want in (("fresh", [fresh]), ("stale", [stale]), ("stale_warning", [warn]),
                         ("unknown", []), ("fresh,stale", [fresh, stale]),
                         ("fresh&staleness=stale_warning", [fresh, warn]),
                         ("fresh,stale,stale_warning,unknown", [fresh, stale, warn])):
        assert sorted(hbi.ids(f"/hosts?staleness={states}")) == sorted(want), states
    h = hbi.get(f"/hosts/{stale}")["results"][0]
    lci = parse_ts(h["last_check_in"])
    assert (parse_ts(h["stale_timestamp"]) - lci).total_seconds() == 29 * 3600
    assert (parse_ts(h["stale_warning_timestamp"]) - lci).total_seconds() == 7 * DAY
    assert (parse_ts(h["culled_timestamp"]) - lci).total_seconds() == 30 * DAY
    # the culled host is invisible everywhere
    hbi.get(f"/hosts/{culled}", status=404)
    hbi.get(f"/hosts/{culled}/system_profile", status=404)
    assert hbi.get(f"/hosts/{culled}/tags")["results"] == {}
    assert hbi.get(f"/hosts/{culled}/tags/count")["results"] == {}
    assert hbi.get(f"/hosts/{culled},{fresh}")["total"] == 1
    hbi.get("/host_exists?insights_id=22222222-2222-2222-2222-222222222222", status=404)
    assert hbi.get("/host_exists?insights_id=11111111-1111-1111-1111-111111111111") == \
        {"id": fresh}
    assert [t["tag"]["key"] for t in hbi.get("/tags")["results"]] == ["k"]
    assert hbi.get("/tags")["results"][0]["count"] == 2
    assert hbi.req("PATCH", f"/hosts/{culled}", body={"display_name": "x"})[0] == 404
    assert hbi.req("DELETE", f"/hosts/{culled}")[0] == 404
    st, _, _ = hbi.req("POST", "/hosts/checkin",
                       body={"insights_id": "22222222-2222-2222-2222-222222222222"})
    assert st == 404
    assert db.query("SELECT display_name FROM hbi_host WHERE id = %s", (culled,))[0][0] != "x"
    assert hbi.events() == []


def test_org_staleness_settings(hbi):
    db = hbi.db
    default = hbi.get("/account/staleness")
    assert default == {"id": "system_default", "org_id": "org-a",
                       "conventional_time_to_stale": 104400,
                       "conventional_time_to_stale_warning": 604800,
                       "conventional_time_to_delete": 2592000,
                       "immutable_time_to_stale": 104400,
                       "immutable_time_to_stale_warning": 604800,
                       "immutable_time_to_delete": 2592000, "created": None, "updated": None}
    h1 = insert_host(db, age=90)     # stale once stale = 60 s
    h2 = insert_host(db, age=150)    # stale_warning
    h3 = insert_host(db, age=500)    # culled
    other = insert_host(db, org="org-b", age=500)
    assert len(hbi.ids("/hosts")) == 3
    # PATCH and DELETE need a record
    assert hbi.req("PATCH", "/account/staleness", body={"conventional_time_to_stale": 60})[0] == 404
    assert hbi.req("DELETE", "/account/staleness")[0] == 404
    # values must increase (merged over the current ones) and stay in HBI's bounds
    for bad, needle in (({"conventional_time_to_stale": 700000}, "1..604800"),
                        ({"conventional_time_to_stale": 0}, "1..604800"),
                        ({"conventional_time_to_stale": "60"}, "integer"),
                        ({"conventional_time_to_delete": 100}, "must be lower"),
                        ({"conventional_time_to_stale": 60, "conventional_time_to_stale_warning":
                          60}, "must be lower"),
                        ({"x": 1}, "unknown field")):
        st, body, _ = hbi.req("POST", "/account/staleness", body=bad)
        assert st == 400 and needle in body["reason"], (bad, body)
    for raw in (b"", b"[1]", b"{", b'{"a": 1, "a": 2}'):
        assert hbi.req("POST", "/account/staleness", body=raw)[0] == 400
    st, body, _ = hbi.req("POST", "/account/staleness",
                          body={"conventional_time_to_stale": 60,
                                "conventional_time_to_stale_warning": 120,
                                "conventional_time_to_delete": 300,
                                "immutable_time_to_stale": 5})
    assert st == 201, body
    assert body["id"] != "system_default" and uuid.UUID(body["id"])
    assert (body["conventional_time_to_stale"], body["conventional_time_to_stale_warning"],
            body["conventional_time_to_delete"]) == (60, 120, 300)
    assert body["immutable_time_to_stale"] == 60 and body["created"] and body["updated"]
    assert hbi.get("/account/staleness") == body
    assert hbi.req("POST", "/account/staleness", body={})[0] == 400   # exists
    # the answers follow the org's settings at once
    assert sorted(hbi.ids("/hosts")) == sorted([h1, h2])
    assert hbi.ids("/hosts?staleness=stale") == [h1]
    assert hbi.ids("/hosts?staleness=stale_warning") == [h2]
    h = hbi.get(f"/hosts/{h1}")["results"][0]
    assert (parse_ts(h["culled_timestamp"]) - parse_ts(h["last_check_in"])).total_seconds() == 300
    hbi.get(f"/hosts/{h3}", status=404)
    # other orgs keep the defaults
    assert hbi.get("/account/staleness", org="org-b")["id"] == "system_default"
    assert hbi.ids("/hosts", org="org-b") == [other]
    st, body, _ = hbi.req("PATCH", "/account/staleness", body={"conventional_time_to_delete": 600})
    assert st == 200 and body["conventional_time_to_delete"] == 600
    assert body["conventional_time_to_stale"] == 60 and body["id"] == hbi.get(
        "/account/staleness")["id"]
    assert h3 in hbi.ids("/hosts")
    st, body, _ = hbi.req("PATCH", "/account/staleness", body={"conventional_time_to_stale": 600})
    assert st == 400 and "must be lower" in body["reason"]
    st, body, r = hbi.req("DELETE", "/account/staleness")
    assert st == 204 and body is None and r.getheader("Content-Type") is None
    assert hbi.get("/account/staleness") == default
    assert len(hbi.ids("/hosts")) == 3


# --- tenancy ------------------------------------------------------------------------

def test_tenancy_isolation(hbi):
    db = hbi.db
    iid = "33333333-3333-3333-3333-333333333333"
    a = insert_host(db, org="org-a", tags={"a": {"k": ["v"]}}, system_profile={"x": 1})
    b = insert_host(db, org="org-b", insights_id=iid, tags={"b": {"k": ["v"]}},
                    system_profile={"secret": 1}, display_name="b-host")
    assert hbi.ids("/hosts") == [a] and hbi.ids("/hosts", org="org-b") == [b]
    hbi.get(f"/hosts/{b}", status=404)
    assert hbi.ids(f"/hosts/{a},{b}") == [a]
    hbi.get(f"/hosts/{b}/system_profile", status=404)
    assert hbi.get(f"/hosts/{a},{b}/system_profile")["results"] == [
        {"id": a, "system_profile": {"x": 1}}]
    assert hbi.get(f"/hosts/{b}/tags")["results"] == {}
    assert hbi.get(f"/hosts/{a},{b}/tags/count")["results"] == {a: 1}
    assert [t["tag"]["namespace"] for t in hbi.get("/tags")["results"]] == ["a"]
    hbi.get(f"/host_exists?insights_id={iid}", status=404)
    assert hbi.get(f"/host_exists?insights_id={iid}", org="org-b") == {"id": b}
    assert hbi.ids("/hosts?hostname_or_id=b-host") == []
    assert hbi.req("PATCH", f"/hosts/{b}", body={"display_name": "stolen"})[0] == 404
    assert hbi.req("DELETE", f"/hosts/{b}")[0] == 404
    assert hbi.req("POST", "/hosts/checkin", body={"insights_id": iid})[0] == 404
    assert db.query("SELECT display_name FROM hbi_host WHERE id = %s", (b,)) == [("b-host",)]
    assert hbi.events() == []
    # writes of a mixed list touch only the caller's hosts; events carry its org
    assert hbi.req("PATCH", f"/hosts/{a},{b}", body={"display_name": "mine"})[0] == 200
    assert hbi.req("DELETE", f"/hosts/{b},{a}")[0] == 200
    assert db.query("SELECT id::text, display_name FROM hbi_host") == [(b, "b-host")]
    ev = hbi.events()
    assert [(e["type"], e["id"], e["org_id"]) for e in ev] == [("updated", a, "org-a"),
                                                               ("delete", a, "org-a")]
    assert all(e["data"]["org_id"] == "org-a" if e["type"] == "delete"
               else e["data"]["host"]["org_id"] == "org-a" for e in ev)
    # POST /hosts writes under the caller's org only
    st, body, _ = hbi.req("POST", "/hosts", body=[{"insights_id": iid, "org_id": "org-b"},
                                                  {"insights_id": iid}])
    assert st == 207 and body["errors"] == 1 and body["data"][0]["status"] == 400
    assert body["data"][1]["host"]["org_id"] == "org-a"
    assert db.query("SELECT count(*) FROM hbi_host WHERE org_id = 'org-b'") == [(1,)]


def test_system_identity_sees_only_its_hosts(hbi):
    db = hbi.db
    cn = "4b36b20f-7fa0-4454-a6d2-008294e06378"
    sysid = ident(type="System", cn=cn.upper())
    mine = insert_host(db, owner_id=cn, system_profile={"owner_id": cn},
                       insights_id="44444444-4444-4444-4444-444444444444")
    theirs = insert_host(db, owner_id=str(uuid.uuid4()),
                         insights_id="55555555-5555-5555-5555-555555555555")
    nobody = insert_host(db)
    assert sorted(hbi.ids("/hosts")) == sorted([mine, theirs, nobody])   # a User sees all
    assert hbi.ids("/hosts", identity=sysid) == [mine]
    assert hbi.ids(f"/hosts/{mine},{theirs},{nobody}", identity=sysid) == [mine]
    hbi.get("/host_exists?insights_id=55555555-5555-5555-5555-555555555555", identity=sysid,
            status=404)
    assert hbi.req("PATCH", f"/hosts/{theirs}", identity=sysid, body={"display_name": "x"})[0] \
        == 404
    assert hbi.req("DELETE", f"/hosts/{nobody}", identity=sysid)[0] == 404
    # a System's POST /hosts: the owner is its cn; another owner is refused
    st, body, _ = hbi.req("POST", "/hosts", identity=sysid, body=[
        {"subscription_manager_id": "66666666-6666-6666-6666-666666666666"},
        {"subscription_manager_id": "77777777-7777-7777-7777-777777777777",
         "system_profile": {"owner_id": str(uuid.uuid4())}}])
    assert st == 207 and [d["status"] for d in body["data"]] == [201, 400]
    new = body["data"][0]["host"]["id"]
    assert sorted(hbi.ids("/hosts", identity=sysid)) == sorted([mine, new])
    assert hbi.get(f"/hosts/{new}/system_profile", identity=sysid)["results"][0][
        "system_profile"] == {"owner_id": cn}
    # a cn that is not a UUID owns nothing
    assert hbi.get("/hosts", identity=ident(type="System", cn="not-a-uuid"))["total"] == 0


# --- {host_id_list} --------------------------------------------------------------------

def test_host_id_list_routes(hbi):
    db = hbi.db
    a = insert_host(db, updated_age=10, tags={"insights-client": {"env": ["prod"], "flag": [None]},
                                              "": {"solo": ["x"]}},
                    system_profile={"arch": "x86_64", "cpus": 4})
    b = insert_host(db, updated_age=5)
    both = f"{a},{b}"
    body = hbi.get(f"/hosts/{both}")
    assert body["total"] == 2 and [h["id"] for h in body["results"]] == [b, a]
    assert body["results"][1] == doc(db, a)
    assert hbi.ids(f"/hosts/{a.replace('-', '').upper()}%2C{b}?order_by=display_name") == [a, b]
    assert hbi.get(f"/hosts/{both}?per_page=1&page=2")["results"][0]["id"] == a
    hbi.get(f"/hosts/{both}?per_page=1&page=3", status=404)
    body = hbi.get(f"/hosts/{both}/system_profile")
    assert body["results"] == [{"id": b, "system_profile": {}},
                               {"id": a, "system_profile": {"arch": "x86_64", "cpus": 4}}]
    tags = hbi.get(f"/hosts/{both}/tags")
    assert tags["total"] == 2 and tags["count"] == 2
    assert tags["results"] == {b: [], a: [
        {"namespace": None, "key": "solo", "value": "x"},
        {"namespace": "insights-client", "key": "env", "value": "prod"},
        {"namespace": "insights-client", "key": "flag", "value": None}]}
    assert hbi.get(f"/hosts/{both}/tags?search=PRO")["results"] == {b: [], a: [
        {"namespace": "insights-client", "key": "env", "value": "prod"}]}
    assert hbi.get(f"/hosts/{both}/tags?search=client/flag=")["results"][a] == [
        {"namespace": "insights-client", "key": "flag", "value": None}]
    assert hbi.get(f"/hosts/{both}/tags/count")["results"] == {a: 3, b: 0}
    missing = str(uuid.uuid4())
    body = hbi.get(f"/hosts/{missing}", status=404)
    assert body["error"] == "not found" and body["detail"]
    assert hbi.ids(f"/hosts/{missing},{a}") == [a]
    for bad in ("notauuid", f"{a},", f"{a},notauuid", f"{a},,{b}", f"{a}-", "%zz",
                f"{{{a}}}", ",".join(str(uuid.uuid4()) for _ in range(501))):
        for suffix in ("", "/system_profile", "/tags", "/tags/count"):
            st, body, _ = hbi.req("GET", f"/hosts/{bad}{suffix}")
            assert st == 400 and "host_id_list" in body["reason"], (bad, suffix)
    assert hbi.req("PATCH", "/hosts/nope", body={"display_name": "x"})[0] == 400
    assert hbi.req("DELETE", "/hosts/nope")[0] == 400
    for path, qs in ((f"/hosts/{a}", "search=x"), (f"/hosts/{a}/tags/count", "search=x"),
                     (f"/hosts/{a}/tags", "tags=a/b"), (f"/hosts/{a}", "display_name=x")):
        assert hbi.get(f"{path}?{qs}", status=400)["reason"].startswith("unknown parameter")
    # 405 lists the methods of the path
    st, body, r = hbi.req("PUT", f"/hosts/{a}", body={})
    assert st == 405 and r.getheader("Allow") == "GET, HEAD, PATCH, DELETE"
    st, _, r = hbi.req("PUT", "/account/staleness")
    assert st == 405 and r.getheader("Allow") == "GET, HEAD, POST, PATCH, DELETE"
    st, _, r = hbi.req("GET", "/hosts/checkin")   # an id that is not one, as HBI
    assert st == 400
    st, _, r = hbi.req("DELETE", "/hosts")
    assert st == 405 and r.getheader("Allow") == "GET, HEAD, POST"


def test_patch_and_events(hbi):
    db = hbi.db
    a = insert_host(db, display_name="a", ansible_host="old")
    b = insert_host(db, display_name="b")
    st, body, r = hbi.req("PATCH", f"/hosts/{a},{b}", body={"display_name": "same"},
                          headers={"x-rh-insights-request-id": "req-42"})
    assert st == 200 and body is None and r.getheader("Content-Type") is None
    assert sorted(db.query("SELECT display_name, coalesce(ansible_host, '') FROM hbi_host")) == [
        ("same", ""), ("same", "old")]
    ev = hbi.events()
    assert sorted(e["id"] for e in ev) == sorted([a, b]) and {e["type"] for e in ev} == {"updated"}
    for e in ev:
        d = e["data"]
        assert set(d) == {"type", "timestamp", "platform_metadata", "metadata", "host"}
        assert d["type"] == "updated" and d["metadata"] == {"request_id": "req-42"}
        assert d["platform_metadata"] == {"request_id": "req-42"}
        assert d["host"] == doc(db, e["id"]) and d["host"]["display_name"] == "same"
    # nothing changes: no event; ansible_host alone; "" clears it
    assert hbi.req("PATCH", f"/hosts/{a}", body={"display_name": "same"})[0] == 200
    assert hbi.req("PATCH", f"/hosts/{a}", body={})[0] == 200
    assert len(hbi.events()) == 2
    assert hbi.req("PATCH", f"/hosts/{a}", body={"ansible_host": ""})[0] == 200
    assert db.query("SELECT display_name, ansible_host FROM hbi_host WHERE id = %s", (a,)) == [
        ("same", "")]
    ev = hbi.events()
    assert len(ev) == 3 and ev[-1]["id"] == a and uuid.UUID(
        ev[-1]["data"]["metadata"]["request_id"])  # generated without the header
    for bad, needle in (({"display_name": ""}, "display_name"),
                        ({"display_name": "x" * 201}, "display_name"),
                        ({"display_name": 7}, "display_name"),
                        ({"ansible_host": "x" * 256}, "ansible_host"),
                        ({"ansible_host": None}, "ansible_host"),
                        ({"id": "x"}, "unknown field"),
                        ([], "object"), ("x", "JSON")):
        st, body, _ = hbi.req("PATCH", f"/hosts/{a}", body=bad)
        assert st == 400 and needle in body["reason"], (bad, body)
    for raw in (b"", b"{", b'{"display_name": "a", "display_name": "b"}'):
        assert hbi.req("PATCH", f"/hosts/{a}", body=raw)[0] == 400
    assert hbi.req("PATCH", f"/hosts/{a}", body={"display_name": "é" * 200})[0] == 200
    st, body, _ = hbi.req("PATCH", f"/hosts/{uuid.uuid4()}", body={"display_name": "x"})
    assert st == 404 and body["error"] == "not found"


def test_delete_and_events(hbi):
    db = hbi.db
    smid = str(uuid.uuid4())
    a = insert_host(db, subscription_manager_id=smid)
    b = insert_host(db)
    iid = db.query("SELECT insights_id::text FROM hbi_host WHERE id = %s", (a,))[0][0]
    st, body, r = hbi.req("DELETE", f"/hosts/{a},{uuid.uuid4()}",
                          headers={"x-rh-insights-request-id": "del-1"})
    assert st == 200 and body is None
    assert db.query("SELECT id::text FROM hbi_host") == [(b,)]
    (e,) = hbi.events()
    assert (e["type"], e["id"], e["org_id"]) == ("delete", a, "org-a")
    d = e["data"]
    assert {k: d[k] for k in ("type", "id", "org_id", "account", "insights_id",
                              "subscription_manager_id", "request_id", "manual_delete",
                              "platform_metadata", "metadata")} == {
        "type": "delete", "id": a, "org_id": "org-a", "account": None, "insights_id": iid,
        "subscription_manager_id": smid, "request_id": "del-1", "manual_delete": True,
        "platform_metadata": {"request_id": "del-1"}, "metadata": {"request_id": "del-1"}}
    assert parse_ts(d["timestamp"])
    st, body, _ = hbi.req("DELETE", f"/hosts/{a}")
    assert st == 404 and body["detail"]
    assert len(hbi.events()) == 1


def test_total_follows_every_write(hbi):
    """GET /hosts' total without filters comes from hbi_host_count (kept by
    triggers); with filters it is counted. Both agree through inserts,
    deletes (several orgs in one statement), POST/DELETE and culling, and
    TRUNCATE; a host cannot move to another org."""
    db = hbi.db

    def totals(org):
        plain = hbi.get("/hosts", org=org)["total"]
        counted = hbi.get("/hosts?staleness=fresh,stale,stale_warning&registered_with="
                          "insights,!puptoo", org=org)["total"]    # every live host, counted
        return plain, counted

    a = [insert_host(db) for _ in range(3)]
    insert_host(db, org="org-b")
    culled = insert_host(db, age=31 * DAY)
    assert totals("org-a") == (3, 3) and totals("org-b") == (1, 1)
    assert_host_counts(db)
    st, body, _ = hbi.req("POST", "/hosts", body=[{"insights_id": str(uuid.uuid4())}])
    assert st == 207 and body["errors"] == 0
    assert totals("org-a") == (4, 4)
    assert hbi.req("DELETE", f"/hosts/{a[0]}")[0] == 200
    assert totals("org-a") == (3, 3)
    db.query("DELETE FROM hbi_host WHERE id = ANY(%s::uuid[]) OR org_id = 'org-b'",
             ([a[1], culled],))
    assert totals("org-a") == (2, 2) and totals("org-b") == (0, 0)
    assert_host_counts(db)
    with pytest.raises(Exception, match="org_id cannot change"):
        db.query("UPDATE hbi_host SET org_id = 'org-b' WHERE id = %s", (a[2],))
    db.query("UPDATE hbi_host SET display_name = 'kept', org_id = org_id WHERE id = %s", (a[2],))
    db.query("TRUNCATE hbi_host")
    assert totals("org-a") == (0, 0) and db.query("SELECT count(*) FROM hbi_host_count") == [(0,)]


# --- check-in, POST /hosts, host_exists, tags -------------------------------------------

def test_checkin(hbi):
    db = hbi.db
    iid, smid = str(uuid.uuid4()), str(uuid.uuid4())
    by_iid = insert_host(db, insights_id=iid, age=DAY, updated_age=DAY)
    by_smid = insert_host(db, insights_id=None, subscription_manager_id=smid, age=DAY)
    by_pair = insert_host(db, insights_id=None, provider_type="aws", provider_id="i-1", age=DAY)
    other_pair = insert_host(db, insights_id=iid.replace(iid[:8], "99999999"),
                             provider_type="aws", provider_id="i-2", age=DAY)
    other_iid = db.query("SELECT insights_id::text FROM hbi_host WHERE id = %s",
                         (other_pair,))[0][0]
    cases = [({"insights_id": iid.upper(), "checkin_frequency": 5}, by_iid),
             ({"subscription_manager_id": smid, "insights_id": iid}, by_smid),   # smid first
             ({"provider_type": "AWS", "provider_id": "I-1", "subscription_manager_id": smid},
              by_pair),                                                          # pair first
             ({"provider_type": "aws", "provider_id": "i-9", "subscription_manager_id": smid},
              by_smid),                                                          # falls back
             ({"fqdn": "x.example.com", "insights_id": iid, "ip_addresses": ["10.0.0.1"]},
              by_iid)]
    for body, want in cases:
        before = db.query("SELECT last_check_in FROM hbi_host WHERE id = %s", (want,))[0][0]
        st, out, _ = hbi.req("POST", "/hosts/checkin", body=body)
        assert st == 201 and out["id"] == want, (body, out)
        assert out == doc(db, want)
        after = db.query("SELECT last_check_in, modified_on FROM hbi_host WHERE id = %s",
                         (want,))[0]
        assert after[0] > before and after[0] == after[1]
    # an ID fact on a host with another provider pair does not find it
    st, _, _ = hbi.req("POST", "/hosts/checkin",
                       body={"insights_id": other_iid, "provider_type": "aws",
                             "provider_id": "i-3"})
    assert st == 404
    ev = hbi.events()
    assert [e["id"] for e in ev] == [c[1] for c in cases] and {e["type"] for e in ev} == {
        "updated"}
    for body, want in (({"fqdn": "only.example.com"}, 404), ({}, 400), ([], 400),
                       ({"insights_id": "nope"}, 400), ({"provider_id": "i-1"}, 400),
                       ({"insights_id": iid, "checkin_frequency": 0}, 400),
                       ({"insights_id": iid, "checkin_frequency": 2881}, 400),
                       ({"insights_id": iid, "display_name": "x"}, 400),
                       ({"insights_id": str(uuid.uuid4())}, 404)):
        st, out, _ = hbi.req("POST", "/hosts/checkin", body=body)
        assert st == want and out["error"], (body, out)


def test_post_hosts(hbi):
    db = hbi.db
    iid = str(uuid.uuid4())
    hosts = [{"insights_id": iid, "fqdn": "Web-1.Example.com", "display_name": "web-1",
              "reporter": "puptoo", "tags": [{"namespace": "ns", "key": "env", "value": "prod"}],
              "facts": [{"namespace": "rhsm", "facts": {"a": 1}}],
              "system_profile": {"arch": "x86_64"}},
             {"fqdn": "no-id.example.com"},
             "not an object",
             {"insights_id": iid.upper(), "display_name": "web-1b"},
             {"subscription_manager_id": str(uuid.uuid4()), "bogus": 1}]
    st, body, _ = hbi.req("POST", "/hosts", body=hosts, headers={"x-rh-insights-request-id": "p1"})
    assert st == 207, body
    assert body["total"] == 5 and body["errors"] == 3
    statuses = [d["status"] for d in body["data"]]
    assert statuses == [201, 400, 400, 201, 400]     # the same new host twice in one batch
    host = body["data"][0]["host"]
    assert body["data"][3]["host"]["id"] == host["id"]
    assert body["data"][3]["host"] == doc(db, host["id"])
    assert host["fqdn"] == "web-1.example.com" and host["org_id"] == "org-a"
    assert host["facts"] == [{"namespace": "rhsm", "facts": {"a": 1}}]
    assert body["data"][1] == {"status": 400, "title": "Bad Request",
                               "detail": body["data"][1]["detail"],
                               "host": {"fqdn": "no-id.example.com"}}
    assert "bogus" in body["data"][4]["detail"] and body["data"][2]["host"] == "not an object"
    assert hbi.ids("/hosts?tags=ns/env=prod") == [host["id"]]
    ev = hbi.events()
    assert [(e["type"], e["id"], e["org_id"]) for e in ev] == [("created", host["id"], "org-a")]
    assert ev[0]["data"]["host"]["display_name"] == "web-1b"
    assert ev[0]["data"]["metadata"] == {"request_id": "p1"}
    # again: an update, de-duplicated by the ID fact
    st, body, _ = hbi.req("POST", "/hosts", body=[{"insights_id": iid, "ansible_host": "a"}])
    assert st == 207 and body["data"][0]["status"] == 200
    assert body["data"][0]["host"]["id"] == host["id"]
    assert body["data"][0]["host"]["display_name"] == "web-1b"    # not sent: kept
    assert [e["type"] for e in hbi.events()] == ["created", "updated"]
    assert db.query("SELECT count(*) FROM hbi_host") == [(1,)]
    st, body, _ = hbi.req("POST", "/hosts", body=[])
    assert st == 207 and body == {"total": 0, "errors": 0, "data": []}
    for raw in (b"", b"{}", b"[", b'"x"'):
        st, body, _ = hbi.req("POST", "/hosts", body=raw)
        assert st == 400 and body["error"] == "bad request", raw
    st, body, _ = hbi.req("POST", "/hosts", body=[{}] * 1001)
    assert st == 400 and "1000" in body["reason"]
    assert hbi.req("POST", "/hosts?x=1", body=[])[0] == 400


def test_host_exists(hbi):
    db = hbi.db
    iid = str(uuid.uuid4())
    a = insert_host(db, insights_id=iid)
    assert hbi.get(f"/host_exists?insights_id={iid}") == {"id": a}
    assert hbi.get(f"/host_exists?insights_id={iid.replace('-', '')}") == {"id": a}
    hbi.get(f"/host_exists?insights_id={uuid.uuid4()}", status=404)
    insert_host(db, insights_id=iid)
    body = hbi.get(f"/host_exists?insights_id={iid}", status=409)
    assert body["error"] == "conflict" and body["status"] == 409
    for qs in ("", "?insights_id=", "?insights_id=x", "?fqdn=a", f"?insights_id={iid}&page=1"):
        assert hbi.get(f"/host_exists{qs}", status=400)["error"] == "bad request", qs


def test_tags_route(hbi):
    db = hbi.db
    insert_host(db, tags={"ns": {"env": ["prod"], "team": ["a"]}})
    insert_host(db, tags={"ns": {"env": ["prod", "dev"]}, "": {"solo": [None]}})
    insert_host(db, tags={"ns": {"env": ["prod"]}}, display_name="special")
    insert_host(db, org="org-b", tags={"ns": {"env": ["prod"]}})
    body = hbi.get("/tags")
    tags = [(t["tag"]["namespace"], t["tag"]["key"], t["tag"]["value"], t["count"])
            for t in body["results"]]
    assert tags == [(None, "solo", None, 1), ("ns", "env", "dev", 1), ("ns", "env", "prod", 3),
                    ("ns", "team", "a", 1)]
    assert body["total"] == 4 and body["count"] == 4
    assert [t["count"] for t in hbi.get("/tags?order_by=count&order_how=DESC")["results"]] == [
        3, 1, 1, 1]
    assert [t["tag"]["key"] for t in hbi.get("/tags?order_how=DESC")["results"]] == [
        "team", "env", "env", "solo"]
    assert [t["tag"]["value"] for t in hbi.get("/tags?search=PROD")["results"]] == ["prod"]
    assert [t["tag"]["key"] for t in hbi.get("/tags?search=ns/t")["results"]] == ["team"]
    assert hbi.get("/tags?display_name=special")["results"] == [
        {"tag": {"namespace": "ns", "key": "env", "value": "prod"}, "count": 1}]
    assert hbi.get("/tags?tags=ns/team=a")["total"] == 2
    page = hbi.get("/tags?per_page=3&page=2")
    assert page["count"] == 1 and page["total"] == 4
    hbi.get("/tags?per_page=3&page=3", status=404)
    for bad in ("order_by=updated", "order_how=up", "per_page=101", "nope=1"):
        assert hbi.get(f"/tags?{bad}", status=400)["error"] == "bad request", bad


# --- plumbing ------------------------------------------------------------------------

def test_metrics_label_routes_by_pattern(hbi):
    a = insert_host(hbi.db)
    hbi.get(f"/hosts/{a}")
    hbi.get(f"/hosts/{a}/tags/count")
    c = http.client.HTTPConnection("127.0.0.1", hbi.port, timeout=10)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    c.close()
    assert ('route="/api/inventory/v1/hosts/:host_id_list",method="GET",code="200"' in text)
    assert 'route="/api/inventory/v1/hosts/:host_id_list/tags/count"' in text
    assert a not in text


def test_reads_use_the_replica_dsn_and_writes_the_primary(inv, inv_popen, make_config, db,
                                                          db_factory, redis_db):
    """With api.database.dsn set, reads go there and writes to database.dsn
    (here two databases stand for the replica and the primary)."""
    replica = db_factory()
    for target in (db, replica):
        cfg = make_config(dsn=target.dsn)
        assert inv("db", "init", config=cfg).rc == 0
        assert inv("db", "migrate", config=cfg).rc == 0
    cfg = make_config(api={"address": "127.0.0.1:0", "threads": 2,
                           "database": {"dsn": replica.dsn}})
    p = inv_popen("api", "start", config=cfg)
    api = Hbi(int(p.wait_for(r"http server listening.*port=(\d+)").group(1)), p, cfg, db,
              redis_db)
    st, body, _ = api.req("POST", "/hosts", body=[{"insights_id": str(uuid.uuid4())}])
    assert st == 207 and body["data"][0]["status"] == 201
    hid = body["data"][0]["host"]["id"]
    assert db.query("SELECT id::text FROM hbi_host") == [(hid,)]
    assert replica.query("SELECT count(*) FROM hbi_host") == [(0,)]
    assert api.get("/hosts")["total"] == 0                     # read on the "replica"
    assert api.req("PATCH", f"/hosts/{hid}", body={"display_name": "x"})[0] == 200
    assert db.query("SELECT display_name FROM hbi_host") == [("x",)]
    st, body, _ = api.req("POST", "/account/staleness", body={"conventional_time_to_stale": 60})
    assert st == 201 and body["conventional_time_to_stale"] == 60   # answered from the primary
    assert replica.query("SELECT count(*) FROM hbi_staleness") == [(0,)]
    insert_host(replica)
    assert api.get("/hosts")["total"] == 1
