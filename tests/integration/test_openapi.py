"""The OpenAPI 3.1 document of the REST API (GET /api/v1/openapi.json,
src/api/openapi.c): valid for @apidevtools/swagger-parser
(tests/openapi/validate.mjs) and, independently, for python3-jsonschema
(every schema a valid 2020-12 schema, every $ref resolving, path parameters
declared); every route of server.c's route table and every model's three
routes documented with the right security; and the live answers of every
route (collected fake-AWS data, queues with tasks, a worker, a scheduler,
control routes, error cases) valid against the schema the document gives for
their path, method and status."""
import copy
import json
import re
import shutil
import socket
import subprocess
import urllib.parse

import pytest
from jsonschema import Draft202012Validator, RefResolver
from jsonschema.exceptions import ValidationError

from conftest import ROOT
from test_api import ADMIN_TOKEN, READ_TOKEN, TOKENS, Api, raw
from test_api_control import post, start_api
from test_aws_collect import run_until_drained
from test_queue import FAST, submit, wait_until

VALIDATOR_DIR = ROOT / "tests" / "openapi"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
ROUTE_ROW = re.compile(r'\{"(GET|POST|DELETE|PUT|PATCH)",\s+"(/[^"]*)",\s+\w+,\s+'
                       r'(OPEN|READ|ADMIN|IDENTITY),\s+(?:true|false)\}')
HBI_PREFIX = "/api/inventory/"  # its own document (test_openapi_hbi.py)
MAX_PAGE = 50


def doc_of(api):
    st, doc, ctype, _ = api.req("/api/v1/openapi.json", token=None)
    assert st == 200 and ctype == "application/json"
    return doc


def all_server_routes():
    """(METHOD, pattern, access) of every row of server.c's route table."""
    text = (ROOT / "src" / "api" / "server.c").read_text()
    table = text[text.index("} routes[] = {"):]
    table = table[:table.index("};")]
    rows = ROUTE_ROW.findall(table)
    assert len(rows) == table.count("{\"") and len(rows) >= 20, "route table not parsed"
    return rows


def server_routes():
    """The rows this document describes (not /api/inventory: its own)."""
    return [r for r in all_server_routes() if not r[1].startswith(HBI_PREFIX)]


def template(pattern):
    return re.sub(r":(\w+)", r"{\1}", pattern)


def run_validator(tmp_path, doc, name="openapi.json"):
    node = shutil.which("node")
    assert node, "node not found (scripts/bootstrap installs it)"
    assert (VALIDATOR_DIR / "node_modules" / "@apidevtools" / "swagger-parser").is_dir(), \
        "tests/openapi/node_modules missing: run scripts/bootstrap"
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return subprocess.run([node, str(VALIDATOR_DIR / "validate.mjs"), str(path)],
                          capture_output=True, text=True, timeout=60)


def walk_refs(node, out):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            out.append(node["$ref"])
        for v in node.values():
            walk_refs(v, out)
    elif isinstance(node, list):
        for v in node:
            walk_refs(v, out)
    return out


def deref(doc, node):
    while isinstance(node, dict) and "$ref" in node:
        assert node["$ref"].startswith("#/"), node
        target = doc
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


class Checker:
    """Validates live answers with the schema the document gives for the
    path template, method and status; records what it checked."""

    def __init__(self, doc):
        self.doc = doc
        self.resolver = RefResolver.from_schema(doc)
        self.seen = set()  # (template, method, status)

    def schema(self, tmpl, method, status, media="application/json"):
        if tmpl is None:  # a method the path does not serve
            resp = self.doc["components"]["responses"]["MethodNotAllowed"]
        else:
            op = self.doc["paths"][tmpl][method.lower()]
            assert str(status) in op["responses"], \
                f"{method} {tmpl} answered {status}, not in the document"
            resp = deref(self.doc, op["responses"][str(status)])
        assert media in resp["content"], (tmpl, method, status, media)
        return resp, resp["content"][media]["schema"]

    def validate(self, schema, body):
        Draft202012Validator(schema, resolver=self.resolver).validate(body)

    def check(self, api, method, url, tmpl, status, token=READ_TOKEN, body=None, headers=None):
        """Sends the request; asserts the status; validates the body and
        the headers the document names. Returns the body."""
        hdrs = dict(headers or {})
        if body is not None:
            hdrs.setdefault("Content-Type", "application/json")
            body = body if isinstance(body, bytes) else json.dumps(body).encode()
        st, out, ctype, r = api.req(url, method=method, token=token, body=body, headers=hdrs)
        assert st == status, (method, url, st, out)
        media = (ctype or "").split(";")[0].strip()
        resp, schema = self.schema(tmpl, method, status, media)
        if media == "application/json":
            try:
                self.validate(schema, out)
            except ValidationError as e:
                pytest.fail(f"{method} {url} -> {st}: {e.message} at {list(e.absolute_path)}\n"
                            f"body: {json.dumps(out)[:2000]}", pytrace=False)
        for name, h in resp.get("headers", {}).items():
            value = r.getheader(name)
            assert value is not None, (url, name)
            self.validate(h["schema"], value)
        self.seen.add((tmpl, method.lower(), str(status)))
        return out


# --- the document itself ----------------------------------------------------

@pytest.fixture
def api(inv, inv_popen, make_config, db):
    return start_api(inv, inv_popen, make_config, max_page_size=MAX_PAGE)


def test_swagger_parser_validates(api, tmp_path):
    doc = doc_of(api)
    r = run_validator(tmp_path, doc)
    assert r.returncode == 0, r.stderr + r.stdout
    ops = sum(1 for p in doc["paths"].values() for m in METHODS if m in p)
    assert r.stdout.strip() == (f"valid: Inventory API {doc['info']['version']}, OpenAPI 3.1.0, "
                                f"{len(doc['paths'])} paths, {ops} operations")
    # The validator is not a rubber stamp: broken copies fail.
    for name, breaks in (
            ("no-version.json", lambda d: d["info"].pop("version")),
            ("bad-ref.json", lambda d: d["paths"]["/health"]["get"]["responses"].update(
                {"500": {"$ref": "#/components/responses/Nope"}})),
            ("no-description.json", lambda d: d["paths"]["/version"]["get"]["responses"]["200"]
             .pop("description")),
            ("bad-param.json", lambda d: d["components"]["parameters"]["Queue"]
             .update({"in": "body"}))):
        bad = copy.deepcopy(doc)
        breaks(bad)
        r = run_validator(tmp_path, bad, name)
        assert r.returncode == 1 and r.stderr.startswith("invalid: "), (name, r.stdout, r.stderr)


def test_document_with_jsonschema(api):
    doc = doc_of(api)
    assert doc["openapi"] == "3.1.0"
    st, version, _, _ = api.req("/version", token=None)
    assert doc["info"]["version"] == version["version"]
    assert doc["components"]["securitySchemes"]["bearer"] == {
        **doc["components"]["securitySchemes"]["bearer"], "type": "http", "scheme": "bearer"}
    # every schema is a valid JSON Schema 2020-12
    schemas = doc["components"]["schemas"]
    for name, s in schemas.items():
        Draft202012Validator.check_schema(s)
    for p in walk_refs(doc["paths"], []):
        assert p.startswith("#/components/"), p
    # every $ref resolves
    for ref in set(walk_refs(doc, [])):
        deref(doc, {"$ref": ref})
    ids = []
    for tmpl, item in doc["paths"].items():
        names = set(re.findall(r"\{(\w+)\}", tmpl))
        for m in METHODS:
            if m not in item:
                continue
            op = item[m]
            ids.append(op["operationId"])
            params = [deref(doc, p) for p in op.get("parameters", [])]
            keys = [(p["name"], p["in"]) for p in params]
            assert len(keys) == len(set(keys)), (tmpl, m)
            assert {n for n, i in keys if i == "path"} == names, (tmpl, m)
            for p in params:
                Draft202012Validator.check_schema(p["schema"])
                assert p["in"] != "path" or p["required"] is True
            for status, resp in op["responses"].items():
                resp = deref(doc, resp)
                for media in resp.get("content", {}).values():
                    Draft202012Validator.check_schema(media["schema"])
    assert len(ids) == len(set(ids))


def test_schemas_are_closed(api):
    """Fixed shapes are closed: a member added or dropped by the server
    fails validation. Model rows (fields= picks members) are closed but
    need none."""
    doc = doc_of(api)
    models = {m["name"] for m in api.get("/api/v1/models")["items"]}
    open_ok = {"OpenAPIDocument", "Duration"}
    rows = {n.replace(":", ".") for n in models}

    def closed_objects(node, where):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                assert node.get("additionalProperties") is False, where
                assert where.split("/")[0] in rows or node.get("required"), where
            for k, v in node.items():
                closed_objects(v, f"{where}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                closed_objects(v, f"{where}/{i}")

    for name, s in doc["components"]["schemas"].items():
        if name not in open_ok:
            closed_objects(s, name)
    chk = Checker(doc)
    q = {"name": "q", "memory_usage": 1, "latency_ms": 0, "latency": "0s", "size": 0,
         "pending": 0, "active": 0, "scheduled": 0, "retry": 0, "archived": 0, "completed": 0,
         "processed_daily": 0, "failed_daily": 0, "processed_total": 0, "failed_total": 0,
         "paused": False}
    _, schema = chk.schema("/api/v1/queues/{q}", "GET", 200)
    chk.validate(schema, q)
    for drifted in ({**q, "extra": 1}, {k: v for k, v in q.items() if k != "paused"},
                    {**q, "size": "0"}):
        with pytest.raises(ValidationError):
            chk.validate(schema, drifted)
    _, schema = chk.schema("/api/v1/aws/instances", "GET", 200)
    with pytest.raises(ValidationError):
        chk.validate(schema, {"items": [{"id": 1, "no_such_column": "x"}], "next": None})
    with pytest.raises(ValidationError):
        chk.validate(schema, {"items": [{"id": "1"}], "next": None})
    with pytest.raises(ValidationError):
        chk.validate(schema, {"items": []})


def test_every_route_documented(api):
    doc = doc_of(api)
    paths = doc["paths"]
    routes = [m["route"] for m in api.get("/api/v1/models")["items"]]
    assert len(routes) >= 20
    want = set()
    for method, pattern, access in server_routes():
        tmpls = ([template(pattern).replace("{source}/{model}", r) for r in routes]
                 if ":source/:model" in pattern else [template(pattern)])
        for t in tmpls:
            want.add((t, method.lower()))
            assert t in paths and method.lower() in paths[t], f"{method} {t} not documented"
            op = paths[t][method.lower()]
            sec = op["security"]
            if access == "OPEN":
                assert sec == [], t
                assert "401" not in op["responses"]
            else:
                assert sec == [{"bearer": []}], t
                assert "401" in op["responses"], t
                assert ("403" in op["responses"]) == (access == "ADMIN"), t
    have = {(t, m) for t, item in paths.items() for m in METHODS if m in item}
    assert have == want, f"documented but not served: {have - want}"
    # the list parameters follow the model's columns
    for m in api.get("/api/v1/models")["items"]:
        op = paths[f"/api/v1/{m['route']}"]["get"]
        names = {p["name"] for p in op["parameters"]}
        for c in m["columns"]:
            n = c["name"]
            assert {n, n + "__in"} <= names, (m["name"], n)
            assert (n + "__prefix" in names) == (c["type"] == "text"), (m["name"], n)
            ordered = {n + s for s in ("__gt", "__gte", "__lt", "__lte")}
            assert (ordered <= names) == (c["type"] in ("integer", "timestamp")), (m["name"], n)
        assert {"sort", "fields", "limit", "next", "total"} <= names
        limit = next(p for p in op["parameters"] if p["name"] == "limit")
        assert limit["schema"]["maximum"] == MAX_PAGE
        # item schema: one property per column, typed as the server renders it
        item = deref(doc, deref(doc, op["responses"]["200"]["content"]["application/json"]
                                ["schema"])["properties"]["items"]["items"])
        assert list(item["properties"]) == [c["name"] for c in m["columns"]]
        jtype = {"integer": "integer", "text": "string", "boolean": "boolean",
                 "timestamp": "string"}
        for c in m["columns"]:
            t = item["properties"][c["name"]]["type"]
            assert (t if isinstance(t, str) else t[0]) == jtype[c["type"]], (m["name"], c)


def test_auth_none_reads_need_no_token(inv, inv_popen, make_config, db):
    api = start_api(inv, inv_popen, make_config, auth="none")
    doc = doc_of(api)
    for method, pattern, access in server_routes():
        if ":source" in pattern:
            pattern = "/api/v1/aws/instances" + pattern.split(":model", 1)[1]
        op = doc["paths"][template(pattern)][method.lower()]
        if access == "ADMIN":
            assert op["security"] == [{"bearer": []}] and "403" in op["responses"]
        else:
            assert op["security"] == [] and "401" not in op["responses"], pattern


def test_nullable_columns_match_the_database(api, inv, db):
    assert inv("db", "init", config=api.cfg).rc == 0
    assert inv("db", "migrate", config=api.cfg).rc == 0
    doc = doc_of(api)
    for m in api.get("/api/v1/models")["items"]:
        op = doc["paths"][f"/api/v1/{m['route']}/{{id}}"]["get"]
        item = deref(doc, op["responses"]["200"]["content"]["application/json"]["schema"])
        nullable = dict(db.query("SELECT column_name, is_nullable = 'YES' FROM "
                                 "information_schema.columns WHERE table_name = %s",
                                 (m["table"],)))
        for name, s in item["properties"].items():
            assert name in nullable, (m["table"], name)
            assert ("null" in s["type"] if isinstance(s["type"], list) else False) == \
                nullable[name], (m["table"], name, s)


# --- live answers ------------------------------------------------------------

def test_live_answers_match_the_document(inv, inv_popen, aws_cfg, aws_env, make_config, db,
                                         tmp_path):
    cfg = aws_cfg()
    worker = inv_popen("worker", "start", config=cfg, env=aws_env)
    worker.wait_for(r'msg="worker started"')
    submit(inv, cfg, "aws:task:collect-all")
    run_until_drained(inv, cfg, worker)
    submit(inv, cfg, "aws:task:link-all")
    run_until_drained(inv, cfg, worker)
    sched_cfg = make_config(scheduler={"jobs": [{"name": "aux:task:noop", "spec": "@every 1s"},
                                                {"name": "aux:task:noop", "spec": "0 3 * * *",
                                                 "queue": "maint", "payload": '{"a": 1}'}],
                                       "metrics": {"address": "127.0.0.1:0"}},
                            worker=dict(FAST))
    inv_popen("scheduler", "start", config=sched_cfg).wait_for(r'msg="scheduler started"')
    # queue "parked" has no worker: tasks stay in every state we put them in
    pending = submit(inv, cfg, "aux:task:noop", "-q", "parked", "--data", '{"x": [1, 2]}')
    submit(inv, cfg, "aux:task:noop", "-q", "parked", "--data", "plain text")
    submit(inv, cfg, "aux:task:noop", "-q", "parked", "--process-in", "1h")
    failed = submit(inv, cfg, "aux:task:fail", "--data", '{"error":"boom","permanent":true}')
    api = start_api(inv, inv_popen, make_config, max_page_size=MAX_PAGE)
    doc = doc_of(api)
    c = Checker(doc)
    wait_until(lambda: api.get(f"/api/v1/tasks/{failed}")["state"] == "archived",
               what="archived")

    for p in ("/health", "/ready", "/version", "/api/v1/openapi.json"):
        c.check(api, "GET", p, p, 200, token=None)
    c.check(api, "GET", "/metrics", "/metrics", 200, token=None)
    # a scan result, as `inventory ingest start scans` writes them (docs/ingest.md)
    db.query("INSERT INTO scan_result (ip, port, service, scanned_at, response) "
             "VALUES ('2001:db8::7', 443, 'HTTPS', now(), 'HTTP/1.1 200 OK')")
    models = c.check(api, "GET", "/api/v1/models", "/api/v1/models", 200)["items"]
    empty = []
    for m in models:
        base = f"/api/v1/{m['route']}"
        page = c.check(api, "GET", base, base, 200)
        cols = [col["name"] for col in m["columns"]]
        for it in page["items"]:
            assert list(it) == cols, m["name"]  # every column by default, in order
        if not page["items"]:
            empty.append(m["name"])
            c.check(api, "GET", f"{base}/1", base + "/{id}", 404)
            c.check(api, "GET", f"{base}/1/links", base + "/{id}/links", 404)
            continue
        more = c.check(api, "GET", f"{base}?limit=1&total=true&sort=-id", base, 200)
        assert more["total"] >= 1 and (more["next"] is None) == (more["total"] == 1)
        if more["next"]:
            c.check(api, "GET", f"{base}?limit=1&total=true&sort=-id&next={more['next']}", base,
                    200)
        rid = page["items"][0]["id"]
        c.check(api, "GET", f"{base}/{rid}", base + "/{id}", 200)
        c.check(api, "GET", f"{base}/{rid}?fields={cols[-1]},{cols[0]}", base + "/{id}", 200)
        links = c.check(api, "GET", f"{base}/{rid}/links", base + "/{id}/links", 200)["items"]
        assert all(l["model"] and l["route"] for l in links)
        c.check(api, "GET", f"{base}/{rid + 10 ** 9}", base + "/{id}", 404)
    assert len(empty) <= len(models) // 3, f"too many empty models: {empty}"
    inst = "/api/v1/aws/instances"
    for qs in ("state=running&instance_type__in=t3.micro,m5.large", "name__prefix=web",
               "launch_time__gte=2020-01-01&id__lt=1000000", "fields=instance_id,launch_time",
               "sort=-launch_time&limit=3"):
        c.check(api, "GET", f"{inst}?{qs}", inst, 200)
    for bad in ("state__gt=x", "nope=1", "limit=0", f"limit={MAX_PAGE + 1}", "next=!!",
                "id=x", "fields=nope", "sort=nope", "total=maybe"):
        c.check(api, "GET", f"{inst}?{bad}", inst, 400)
    c.check(api, "GET", f"{inst}/abc", inst + "/{id}", 400)
    c.check(api, "GET", f"{inst}/1/links?x=1", inst + "/{id}/links", 400)
    c.check(api, "GET", "/api/v1/models?x=1", "/api/v1/models", 400)
    scans = "/api/v1/scans"
    for qs in ("", "?ip=2001:DB8::7&port=443&service=HTTPS&since=1700000000&limit=1",
               "?since=2024-01-01T00:00:00Z"):
        assert c.check(api, "GET", scans + qs, scans, 200)["items"]
    assert c.check(api, "GET", f"{scans}/2001:db8:0::7?service=HTTPS", scans + "/{ip}",
                   200)["items"]
    for bad in ("ip=1.2.3.256", "port=x", "sort=id", "limit=0"):
        c.check(api, "GET", f"{scans}?{bad}", scans, 400)
    c.check(api, "GET", f"{scans}/nope", scans + "/{ip}", 400)

    # queues, tasks, workers, scheduler
    wait_until(lambda: api.get("/api/v1/workers")["items"], what="a worker")
    wait_until(lambda: any(j["prev_ms"] for j in api.get("/api/v1/scheduler/jobs")["items"]),
               what="a tick")
    qs = c.check(api, "GET", "/api/v1/queues", "/api/v1/queues", 200)["items"]
    assert {"default", "parked"} <= {q["name"] for q in qs}
    jobs = c.check(api, "GET", "/api/v1/scheduler/jobs", "/api/v1/scheduler/jobs", 200)["items"]
    ours = [j for j in jobs if j["origin"] == "config"]  # code adds its own periodic jobs
    assert len(ours) == 2 and any(j.get("payload") for j in ours)
    c.check(api, "GET", "/api/v1/workers", "/api/v1/workers", 200)
    c.check(api, "GET", "/api/v1/queues/parked", "/api/v1/queues/{q}", 200)
    c.check(api, "GET", "/api/v1/queues/nope", "/api/v1/queues/{q}", 404)
    seen_states = set()
    for q, state in (("parked", "pending"), ("parked", "scheduled"), ("default", "archived"),
                     ("default", "completed"), ("parked", "active")):
        tasks = c.check(api, "GET", f"/api/v1/queues/{q}/tasks?state={state}&page=1&size=5",
                        "/api/v1/queues/{q}/tasks", 200)["items"]
        seen_states |= {t["state"] for t in tasks}
    assert {"pending", "scheduled", "archived"} <= seen_states
    c.check(api, "GET", "/api/v1/queues/parked/tasks?state=nope", "/api/v1/queues/{q}/tasks",
            400)
    c.check(api, "GET", "/api/v1/queues/nope/tasks", "/api/v1/queues/{q}/tasks", 404)
    t = c.check(api, "GET", f"/api/v1/tasks/{pending}", "/api/v1/tasks/{id}", 200)
    assert t["payload"] == {"x": [1, 2]}
    assert "last_error" in c.check(api, "GET", f"/api/v1/tasks/{failed}",
                                   "/api/v1/tasks/{id}", 200)
    c.check(api, "GET", "/api/v1/tasks/nope", "/api/v1/tasks/{id}", 404)

    # auth
    c.check(api, "GET", "/api/v1/queues", "/api/v1/queues", 401, token=None)
    c.check(api, "GET", inst, inst, 401, token="wrong")
    c.check(api, "POST", "/api/v1/queues/parked/pause", "/api/v1/queues/{q}/pause", 403)
    c.check(api, "DELETE", f"/api/v1/tasks/{pending}", "/api/v1/tasks/{id}", 401, token=None)

    # control
    c.check(api, "POST", "/api/v1/queues/parked/pause", "/api/v1/queues/{q}/pause", 200,
            token=ADMIN_TOKEN)
    c.check(api, "POST", "/api/v1/queues/parked/resume", "/api/v1/queues/{q}/resume", 200,
            token=ADMIN_TOKEN)
    c.check(api, "POST", "/api/v1/queues/nope/resume", "/api/v1/queues/{q}/resume", 404,
            token=ADMIN_TOKEN)
    body = {"type": "aux:task:noop", "payload": {"a": 1}, "queue": "parked", "id": "oa-1",
            "max_retry": 3, "timeout": "10s", "retention": 60000, "process_in": "1h"}
    deref_submit = deref(doc, doc["paths"]["/api/v1/tasks"]["post"]["requestBody"]["content"]
                         ["application/json"]["schema"])
    c.validate(deref_submit, body)  # what we send is what the document describes
    with pytest.raises(ValidationError):
        c.validate(deref_submit, {**body, "force": True})
    with pytest.raises(ValidationError):
        c.validate(deref_submit, {**body, "process_at": 1})
    c.check(api, "POST", "/api/v1/tasks", "/api/v1/tasks", 201, token=ADMIN_TOKEN, body=body)
    c.check(api, "POST", "/api/v1/tasks", "/api/v1/tasks", 409, token=ADMIN_TOKEN, body=body)
    c.check(api, "POST", "/api/v1/tasks", "/api/v1/tasks", 400, token=ADMIN_TOKEN,
            body={"type": "aux:task:noop", "force": True})
    c.check(api, "DELETE", "/api/v1/tasks/oa-1", "/api/v1/tasks/{id}", 200, token=ADMIN_TOKEN)
    c.check(api, "DELETE", "/api/v1/tasks/oa-1", "/api/v1/tasks/{id}", 404, token=ADMIN_TOKEN)
    c.check(api, "POST", "/api/v1/tasks/oa-1/cancel", "/api/v1/tasks/{id}/cancel", 404,
            token=ADMIN_TOKEN)
    st, out = post(api, "/api/v1/tasks", {"type": "aux:task:sleep",
                                          "payload": {"duration": "30s"}})
    assert st == 201
    sleeper = out["id"]
    wait_until(lambda: api.get(f"/api/v1/tasks/{sleeper}")["state"] == "active", what="active")
    c.check(api, "GET", "/api/v1/queues/default/tasks?state=active", "/api/v1/queues/{q}/tasks",
            200)
    c.check(api, "DELETE", f"/api/v1/tasks/{sleeper}", "/api/v1/tasks/{id}", 409,
            token=ADMIN_TOKEN)
    got = c.check(api, "POST", f"/api/v1/tasks/{sleeper}/cancel", "/api/v1/tasks/{id}/cancel",
                  202, token=ADMIN_TOKEN)
    assert got["state"] == "active" and got["receivers"] >= 1

    # 405 (components/responses/MethodNotAllowed, with Allow) and 413
    c.check(api, "GET", "/api/v1/tasks", None, 405)
    c.check(api, "PUT", f"/api/v1/tasks/{pending}", None, 405)
    big = json.dumps({"type": "aux:task:noop", "payload": "x" * (1 << 20)}).encode()
    head = (f"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(big)}\r\n\r\n").encode()
    st, out = raw(api.port, head, [big])
    assert st == 413
    c.validate(c.schema("/api/v1/tasks", "POST", 413)[1], out)

    # every documented operation answered its success status at least once
    # (a row or its links only where the model has rows)
    skip = {f"/api/v1/{m['route']}{suffix}" for m in models if m["name"] in empty
            for suffix in ("/{id}", "/{id}/links")}
    for tmpl, item in doc["paths"].items():
        for m, op in item.items():
            ok = next(s for s in op["responses"] if s.startswith("2"))
            assert (tmpl, m, ok) in c.seen or tmpl in skip, f"{m.upper()} {tmpl} never called"


def test_unavailable_answers_match_the_document(inv, inv_popen, make_config, db):
    """503s: Redis down (queue routes, /ready) and PostgreSQL down (data
    routes); the document needs neither."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = s.getsockname()[1]
    s.close()
    cfg = make_config(api={"address": "127.0.0.1:0", "tokens": TOKENS},
                      redis={"endpoint": f"127.0.0.1:{dead}"},
                      database={"dsn": f"postgresql://x@127.0.0.1:{dead}/x?connect_timeout=2"})
    p = inv_popen("api", "start", config=cfg)
    api = Api(int(p.wait_for(r"http server listening.*port=(\d+)").group(1)), p, cfg)
    c = Checker(doc_of(api))
    c.check(api, "GET", "/ready", "/ready", 503, token=None)
    for path in ("/api/v1/queues", "/api/v1/workers", "/api/v1/scheduler/jobs"):
        assert c.check(api, "GET", path, path, 503)["error"] == "redis unavailable"
    for path, tmpl in (("/api/v1/aws/vpcs", "/api/v1/aws/vpcs"),
                       ("/api/v1/aws/vpcs/1", "/api/v1/aws/vpcs/{id}")):
        assert c.check(api, "GET", path, tmpl, 503)["error"] == "database unavailable"
    # the document's 503 names the cause: the other one fails
    with pytest.raises(ValidationError):
        c.validate(c.schema("/api/v1/queues", "GET", 503)[1], {"error": "database unavailable"})
    with pytest.raises(ValidationError):
        c.validate(c.schema("/api/v1/aws/vpcs", "GET", 503)[1], {"error": "redis unavailable"})


def test_url_examples_in_docs_are_documented(api):
    """The example URLs of docs/api.md are paths of the document (or, under
    /api/inventory, of the host-based inventory API's)."""
    doc = doc_of(api)
    st, hbi_doc, _, _ = api.req(HBI_PREFIX + "v1/openapi.json", token=None)
    assert st == 200
    text = (ROOT / "docs" / "api.md").read_text()
    for url in re.findall(r"localhost:8080(/[^\s'\"`]*)", text):
        path = urllib.parse.urlsplit(url).path
        paths = hbi_doc["paths"] if path.startswith(HBI_PREFIX) else doc["paths"]
        hits = [t for t in paths
                if re.fullmatch(re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(t)), path)]
        assert hits, url
