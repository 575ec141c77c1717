"""The OpenAPI 3.1 document of the host-based inventory API
(GET /api/inventory/v1/openapi.json, src/api/hbi_openapi.c), checked as
test_openapi.py checks /api/v1's: valid for @apidevtools/swagger-parser and
for python3-jsonschema (schemas, $refs, path parameters); every
/api/inventory row of server.c's route table documented, and nothing else,
with the x-rh-identity security; closed schemas; and the live answers of
every route (successes, 400/401/404/405/409/413 and a 503) valid against
the schema the document gives for their path, method and status."""
import copy
import json
import re
import socket
import uuid

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from test_api import Api, raw
from test_api_hosts import ident, insert_host, start
from test_openapi import (HBI_PREFIX, METHODS, Checker, all_server_routes, deref, run_validator,
                          template, walk_refs)

DOC = HBI_PREFIX + "v1/openapi.json"
ID_HEADER = {"x-rh-identity": ident("org-doc")}


def doc_of(api):
    st, doc, ctype, _ = api.req(DOC, token=None)
    assert st == 200 and ctype == "application/json"
    return doc


class HbiChecker(Checker):
    """Checker for a document whose answers may have no body (PATCH,
    DELETE: no content, no Content-Type)."""

    def check(self, api, method, url, tmpl, status, body=None, headers=ID_HEADER):
        op = self.doc["paths"][tmpl][method.lower()] if tmpl else None
        resp = deref(self.doc, op["responses"][str(status)]) if op and str(status) in \
            op["responses"] else None
        if resp is not None and "content" not in resp:
            data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
            st, out, ctype, r = api.req(url, method=method, token=None, body=data,
                                        headers=dict(headers or {}))
            assert st == status, (method, url, st, out)
            assert ctype is None and r.getheader("Content-Length") in ("0", None), url  # 204: none
            self.seen.add((tmpl, method.lower(), str(status)))
            return None
        return super().check(api, method, url, tmpl, status, token=None, body=body,
                             headers=headers)


@pytest.fixture
def hbi(inv, inv_popen, make_config, db, redis_db):
    return start(inv, inv_popen, make_config, db, redis_db)


@pytest.fixture
def api(hbi):
    return Api(hbi.port, hbi.proc, hbi.cfg)


def test_swagger_parser_validates(api, tmp_path):
    doc = doc_of(api)
    r = run_validator(tmp_path, doc)
    assert r.returncode == 0, r.stderr + r.stdout
    ops = sum(1 for p in doc["paths"].values() for m in METHODS if m in p)
    assert r.stdout.strip() == (f"valid: {doc['info']['title']} {doc['info']['version']}, "
                                f"OpenAPI 3.1.0, {len(doc['paths'])} paths, {ops} operations")
    for name, breaks in (
            ("bad-ref.json", lambda d: d["paths"][HBI_PREFIX + "v1/hosts"]["get"]["responses"]
             .update({"500": {"$ref": "#/components/responses/Nope"}})),
            ("bad-param.json", lambda d: d["components"]["parameters"]["pageParam"]
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
    assert doc["components"]["securitySchemes"]["ApiKeyAuth"] == {
        **doc["components"]["securitySchemes"]["ApiKeyAuth"], "type": "apiKey", "in": "header",
        "name": "x-rh-identity"}
    for s in doc["components"]["schemas"].values():
        Draft202012Validator.check_schema(s)
    for ref in set(walk_refs(doc, [])):
        assert ref.startswith("#/components/"), ref
        deref(doc, {"$ref": ref})
    ids = []
    for tmpl, item in doc["paths"].items():
        assert tmpl.startswith(HBI_PREFIX + "v1/"), tmpl
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
            for resp in op["responses"].values():
                for media in deref(doc, resp).get("content", {}).values():
                    Draft202012Validator.check_schema(media["schema"])
    assert len(ids) == len(set(ids))


def test_every_route_documented(api):
    doc = doc_of(api)
    want = set()
    for method, pattern, access in all_server_routes():
        if not pattern.startswith(HBI_PREFIX):
            continue
        t, m = template(pattern), method.lower()
        want.add((t, m))
        assert t in doc["paths"] and m in doc["paths"][t], f"{method} {t} not documented"
        op = doc["paths"][t][m]
        if access == "OPEN":
            assert op["security"] == [] and "401" not in op["responses"], t
        else:
            assert access == "IDENTITY", t
            assert op["security"] == [{"ApiKeyAuth": []}] and "401" in op["responses"], t
    have = {(t, m) for t, item in doc["paths"].items() for m in METHODS if m in item}
    assert have == want, f"documented but not served: {have - want}"
    assert len(want) == 16


def test_schemas_are_closed(api):
    doc = doc_of(api)

    def closed(node, where):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                assert node.get("additionalProperties") is False, where
            for k, v in node.items():
                closed(v, f"{where}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                closed(v, f"{where}/{i}")

    for name, s in doc["components"]["schemas"].items():
        if name != "OpenAPIDocument":
            closed(s, name)
    chk = Checker(doc)
    _, schema = chk.schema(HBI_PREFIX + "v1/hosts", "GET", 200)
    page = {"total": 0, "count": 0, "page": 1, "per_page": 50, "results": []}
    chk.validate(schema, page)
    for drifted in ({**page, "extra": 1}, {k: v for k, v in page.items() if k != "total"},
                    {**page, "results": [{"id": "x"}]}):
        with pytest.raises(ValidationError):
            chk.validate(schema, drifted)


def test_live_answers_match_the_document(hbi, api, db, tmp_path):
    doc = doc_of(api)
    c = HbiChecker(doc)
    p = HBI_PREFIX + "v1"
    H, ids = p + "/hosts", p + "/hosts/{host_id_list}"
    c.check(api, "GET", DOC, DOC, 200, headers=None)
    # hosts through POST /hosts (host_store) and SQL
    iid = str(uuid.uuid4())
    body = [{"insights_id": iid, "fqdn": "a.example.com", "display_name": "a",
             "reporter": "puptoo", "ip_addresses": ["10.0.0.1"],
             "mac_addresses": ["aa:bb:cc:dd:ee:ff"], "provider_type": "aws", "provider_id": "i-1",
             "facts": [{"namespace": "ns", "facts": {"x": [1, {"y": None}]}}],
             "tags": {"ns": {"env": ["prod"], "flag": []}, "": {"k": ["v"]}},
             "system_profile": {"arch": "x86_64", "owner_id": str(uuid.uuid4())}},
            {"fqdn": "no-id"}, {"subscription_manager_id": str(uuid.uuid4())}]
    out = c.check(api, "POST", H, H, 207, body=body)
    a, b = out["data"][0]["host"]["id"], out["data"][2]["host"]["id"]
    c.check(api, "POST", H, H, 207, body=[{"insights_id": iid, "display_name": "a2"}])
    insert_host(db, org="org-doc", age=31 * 86400)      # culled
    insert_host(db, org="org-doc", age=8 * 86400, system_profile={
        "operating_system": {"name": "RHEL", "major": 9, "minor": 1}})
    for qs in ("", "?per_page=1&page=2", "?order_by=operating_system&order_how=ASC",
               "?tags=ns/env=prod&staleness=fresh,stale_warning&registered_with=puptoo",
               "?display_name=A&fqdn=a.example.com&hostname_or_id=a&provider_type=aws"
               "&provider_id=i-1&updated_start=2020-01-01&updated_end=2100-01-01T00:00:00Z"
               f"&insights_id={iid}", "?staleness=unknown"):
        c.check(api, "GET", H + qs, H, 200)
    for bad in ("?nope=1", "?per_page=0", "?order_how=ASC", "?tags=ns/=x"):
        c.check(api, "GET", H + bad, H, 400)
    c.check(api, "GET", H + "?page=9", H, 404)
    both = f"{a},{b}"
    c.check(api, "GET", f"{H}/{both}?order_by=display_name", ids, 200)
    c.check(api, "GET", f"{H}/{uuid.uuid4()}", ids, 404)
    c.check(api, "GET", f"{H}/nope", ids, 400)
    for suffix, schema_tmpl in (("/system_profile", ids + "/system_profile"),
                                ("/tags", ids + "/tags"), ("/tags/count", ids + "/tags/count")):
        c.check(api, "GET", f"{H}/{both}{suffix}", schema_tmpl, 200)
        c.check(api, "GET", f"{H}/nope{suffix}", schema_tmpl, 400)
    c.check(api, "GET", f"{H}/{both}/tags?search=env", ids + "/tags", 200)
    c.check(api, "GET", f"{H}/{uuid.uuid4()}/system_profile", ids + "/system_profile", 404)
    c.check(api, "GET", f"{H}/{both}/tags?page=5", ids + "/tags", 404)
    c.check(api, "GET", f"{H}/{both}/tags/count?page=5", ids + "/tags/count", 404)
    T = p + "/tags"
    for qs in ("", "?order_by=count&order_how=DESC&per_page=1", "?search=PROD&tags=ns/env"):
        c.check(api, "GET", T + qs, T, 200)
    c.check(api, "GET", T + "?order_by=updated", T, 400)
    c.check(api, "GET", T + "?page=7", T, 404)
    E = p + "/host_exists"
    c.check(api, "GET", f"{E}?insights_id={iid}", E, 200)
    c.check(api, "GET", f"{E}?insights_id={uuid.uuid4()}", E, 404)
    c.check(api, "GET", E, E, 400)
    insert_host(db, org="org-doc", insights_id=iid)
    c.check(api, "GET", f"{E}?insights_id={iid}", E, 409)
    CI = H + "/checkin"
    c.check(api, "POST", CI, CI, 201, body={"provider_type": "aws", "provider_id": "i-1",
                                             "checkin_frequency": 60})
    c.check(api, "POST", CI, CI, 404, body={"subscription_manager_id": str(uuid.uuid4())})
    c.check(api, "POST", CI, CI, 400, body={"insights_id": "x"})
    c.check(api, "PATCH", f"{H}/{both}", ids, 200, body={"display_name": "z", "ansible_host": ""})
    c.check(api, "PATCH", f"{H}/{both}", ids, 400, body={"name": "z"})
    c.check(api, "PATCH", f"{H}/{uuid.uuid4()}", ids, 404, body={"display_name": "z"})
    c.check(api, "DELETE", f"{H}/{b}", ids, 200)
    c.check(api, "DELETE", f"{H}/{b}", ids, 404)
    c.check(api, "DELETE", f"{H}/x", ids, 400)
    S = p + "/account/staleness"
    c.check(api, "GET", S, S, 200)
    c.check(api, "PATCH", S, S, 404, body={"conventional_time_to_stale": 10})
    c.check(api, "DELETE", S, S, 404)
    c.check(api, "POST", S, S, 400, body={"conventional_time_to_delete": 10})
    c.check(api, "POST", S, S, 201, body={"conventional_time_to_stale": 100,
                                          "immutable_time_to_delete": 5})
    c.check(api, "GET", S, S, 200)
    c.check(api, "PATCH", S, S, 200, body={"conventional_time_to_stale_warning": 700})
    c.check(api, "DELETE", S, S, 204)
    c.check(api, "GET", S + "?x=1", S, 400)
    # 401s, 405 (components/responses/MethodNotAllowed) and 413
    for method, url, tmpl in (("GET", H, H), ("GET", T, T), ("DELETE", S, S),
                              ("POST", CI, CI)):
        c.check(api, method, url, tmpl, 401, body={} if method == "POST" else None,
                headers={"x-rh-identity": ident(type="System")})
        c.check(api, method, url, tmpl, 401, body={} if method == "POST" else None, headers={})
    st, out, ctype, r = api.req(f"{H}/{a}", method="PUT", token=None, headers=ID_HEADER)
    assert st == 405 and r.getheader("Allow") == "GET, HEAD, PATCH, DELETE"
    c.validate(deref(doc, {"$ref": "#/components/responses/MethodNotAllowed"})["content"][
        "application/json"]["schema"], out)
    big = json.dumps([{"fqdn": "x" * (1 << 20)}]).encode()
    head = (f"POST {H} HTTP/1.1\r\nHost: x\r\nx-rh-identity: {ID_HEADER['x-rh-identity']}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(big)}\r\n\r\n").encode()
    st, out = raw(api.port, head, [big])
    assert st == 413
    c.validate(c.schema(H, "POST", 413)[1], out)
    # every documented operation answered its success status at least once
    for tmpl, item in doc["paths"].items():
        for m, op in item.items():
            ok = next(s for s in op["responses"] if s.startswith("2"))
            assert (tmpl, m, ok) in c.seen, f"{m.upper()} {tmpl} never called"


def test_unavailable_database_matches_the_document(inv_popen, make_config):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = s.getsockname()[1]
    s.close()
    cfg = make_config(api={"address": "127.0.0.1:0"},
                      database={"dsn": f"postgresql://x@127.0.0.1:{dead}/x?connect_timeout=2"})
    p = inv_popen("api", "start", config=cfg)
    api = Api(int(p.wait_for(r"http server listening.*port=(\d+)").group(1)), p, cfg)
    c = HbiChecker(doc_of(api))
    H = HBI_PREFIX + "v1/hosts"
    assert c.check(api, "GET", H, H, 503)["error"] == "database unavailable"
    assert c.check(api, "PATCH", f"{H}/{uuid.uuid4()}", H + "/{host_id_list}", 503,
                   body={"display_name": "x"})["error"] == "database unavailable"
    assert c.check(api, "POST", H, H, 503, body=[{"insights_id": str(uuid.uuid4())}])[
        "error"] == "database unavailable"
