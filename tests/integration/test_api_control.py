"""The REST API's queue routes (docs/api.md, Queues): introspection and
control mirroring the CLI (same JSON shapes as `-o json`), the auth matrix
of read and control routes, bad bodies and conflicts."""
import json

import pytest

from test_api import ADMIN_TOKEN, READ_TOKEN, TOKENS, Api, raw as raw_request
from test_queue import FAST, start_worker, submit, wait_until


def start_api(inv, inv_popen, make_config, **api):
    section = {"address": "127.0.0.1:0", "threads": 2, "tokens": TOKENS, **api}
    cfg = make_config(api=section, worker=dict(FAST, concurrency=2))
    p = inv_popen("api", "start", config=cfg)
    port = int(p.wait_for(r"http server listening.*port=(\d+)").group(1))
    return Api(port, p, cfg)


@pytest.fixture
def api(inv, inv_popen, make_config, db):
    return start_api(inv, inv_popen, make_config)


def post(api, path, body=None, token=ADMIN_TOKEN, method="POST", raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    st, out, ctype, _ = api.req(path, method=method, token=token, body=data,
                                headers={"Content-Type": "application/json"} if data else None)
    assert ctype == "application/json"
    return st, out


def test_queue_introspection_matches_cli(api, inv):
    cfg = api.cfg
    a = submit(inv, cfg, "aux:task:noop", "--data", '{"x": 1}')
    submit(inv, cfg, "aux:task:noop", "-q", "other")
    qs = api.get("/api/v1/queues")["items"]
    assert [q["name"] for q in qs] == ["default", "other"]
    cli = inv("queue", "inspect", "--queue", "default", "-o", "json", config=cfg).json()
    one = api.get("/api/v1/queues/default")
    assert list(one) == list(cli)
    assert one["pending"] == cli["pending"] == 1 and one["paused"] is False
    tasks = api.get("/api/v1/queues/default/tasks?state=pending&page=1&size=10")["items"]
    cli_tasks = inv("task", "pending", "-o", "json", config=cfg).json()
    assert [t["id"] for t in tasks] == [t["id"] for t in cli_tasks] == [a]
    assert list(tasks[0]) == list(cli_tasks[0]) and tasks[0]["payload"] == {"x": 1}
    assert api.get("/api/v1/queues/default/tasks?state=archived")["items"] == []
    assert api.get("/api/v1/queues/default/tasks?page=2&size=1")["items"] == []
    t = api.get(f"/api/v1/tasks/{a}")
    assert t["id"] == a and t["queue"] == "default" and t["state"] == "pending"
    for path, needle in (("/api/v1/queues/default/tasks?state=nope", "state"),
                         ("/api/v1/queues/default/tasks?size=0", "size"),
                         ("/api/v1/queues/default/tasks?size=100000", "size"),
                         ("/api/v1/queues/default/tasks?page=x", "page"),
                         ("/api/v1/queues/default/tasks?x=1", "unknown parameter"),
                         ("/api/v1/queues?x=1", "unknown parameter")):
        st, body, _, _ = api.req(path)
        assert st == 400 and needle in body["reason"], (path, body)
    for path in ("/api/v1/queues/nope", "/api/v1/queues/nope/tasks", "/api/v1/queues/bad%20q",
                 "/api/v1/tasks/nope", "/api/v1/tasks/bad!id"):
        st, body, _, _ = api.req(path)
        assert st == 404 and body["error"] == "not found", path
    # wrong methods on the queue paths are 405s, not unknown models
    st, body, _, r = api.req("/api/v1/queues/default/pause")
    assert st == 405 and r.getheader("Allow") == "POST"
    st, body, _, r = api.req("/api/v1/tasks")
    assert st == 405 and r.getheader("Allow") == "POST"
    st, body, _, r = api.req("/api/v1/tasks/x", method="PUT")
    assert st == 405 and r.getheader("Allow") == "GET, HEAD, DELETE"


def test_workers_and_scheduler_jobs(api, inv, inv_popen, make_config):
    assert api.get("/api/v1/workers") == {"items": []}
    assert api.get("/api/v1/scheduler/jobs") == {"items": []}
    cfg = make_config(worker=dict(FAST, concurrency=2),
                      scheduler={"jobs": [{"name": "aux:task:noop", "spec": "@every 1s"},
                                          {"name": "aux:task:noop", "spec": "0 3 * * *",
                                           "queue": "maint"}],
                                 "metrics": {"address": "127.0.0.1:0"}})
    start_worker(inv_popen, cfg)
    s = inv_popen("scheduler", "start", config=cfg)
    s.wait_for(r'msg="scheduler started"')
    workers = wait_until(lambda: api.get("/api/v1/workers")["items"], what="a worker")
    cli = inv("worker", "ls", "-o", "json", config=cfg).json()
    assert [w.get("id") for w in workers] == [w.get("id") for w in cli] and len(workers) == 1
    assert workers[0]["concurrency"] == 2
    wait_until(lambda: any(j["prev_ms"] for j in api.get("/api/v1/scheduler/jobs")["items"]),
               what="a tick")
    jobs = api.get("/api/v1/scheduler/jobs")["items"]
    cli = inv("scheduler", "jobs", "-o", "json", config=cfg).json()
    assert [j["id"] for j in jobs] == [j["id"] for j in cli]
    assert len([j for j in jobs if j["origin"] == "config"]) == 2  # and the code's own
    assert list(jobs[0]) == list(cli[0])
    daily = next(j for j in jobs if j["spec"] == "0 3 * * *")
    assert daily["queue"] == "maint" and daily["prev_ms"] is None and daily["next_ms"] > 0


def test_submit(api, inv):
    st, body = post(api, "/api/v1/tasks", {"type": "aux:task:noop", "payload": {"a": [1, 2]},
                                           "queue": "q1", "id": "t-1", "max_retry": 3,
                                           "timeout": "10s", "retention": 60000})
    assert st == 201 and body == {"queue": "q1", "id": "t-1"}
    t = inv("task", "inspect", "--id", "t-1", "--queue", "q1", "-o", "json",
            config=api.cfg).json()
    assert t["payload"] == {"a": [1, 2]} and t["max_retry"] == 3 and t["timeout_ms"] == 10000
    assert t["retention_ms"] == 60000
    st, body = post(api, "/api/v1/tasks", {"type": "aux:task:noop", "payload": "raw text",
                                           "process_in": "1h"})
    assert st == 201 and body["queue"] == "default" and len(body["id"]) >= 8
    t = api.get(f"/api/v1/tasks/{body['id']}")
    assert t["state"] == "scheduled" and t["payload"] == "raw text"
    # the same id in the same queue
    st, body = post(api, "/api/v1/tasks", {"type": "aux:task:noop", "queue": "q1", "id": "t-1"})
    assert st == 409 and body["error"] == "conflict" and "t-1" in body["reason"]


@pytest.mark.parametrize("raw,needle", [
    (b"", "invalid JSON"),
    (b"{", "invalid JSON"),
    (b"[1]", "expected a JSON object"),
    (b'{"type": "aux:task:noop", "type": "aux:task:noop"}', "invalid JSON"),
    (b'{"payload": {}}', 'missing "type"'),
    (b'{"type": 5}', "type: expected"),
    (b'{"type": "nope:task:x"}', 'unknown task type "nope:task:x"'),
    (b'{"type": "aux:task:noop", "payload": 5}', "payload: expected"),
    (b'{"type": "aux:task:noop", "queue": "bad queue"}', "queue: expected"),
    (b'{"type": "aux:task:noop", "id": "bad id!"}', "id: expected"),
    (b'{"type": "aux:task:noop", "max_retry": "3"}', "max_retry: expected"),
    (b'{"type": "aux:task:noop", "max_retry": 99999999999999999999}', "invalid JSON"),
    (b'{"type": "aux:task:noop", "timeout": "soon"}', "timeout: expected"),
    (b'{"type": "aux:task:noop", "timeout": -1}', "timeout: expected"),
    (b'{"type": "aux:task:noop", "process_in": "1s", "process_at": 1}', "not both"),
    (b'{"type": "aux:task:noop", "force": true}', 'unknown field "force"'),
])
def test_submit_bad_bodies(api, raw, needle):
    st, body = post(api, "/api/v1/tasks", raw=raw)
    assert st == 400 and body["error"] == "bad request" and needle in body["reason"], body


def test_submit_oversized(api):
    big = json.dumps({"type": "aux:task:noop", "payload": "x" * (1 << 20)}).encode()
    head = (f"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(big)}\r\n\r\n").encode()
    st, body = raw_request(api.port, head, [big])
    assert st == 413 and body["error"] == "payload too large"
    assert api.get("/api/v1/queues") == {"items": []}


def test_pause_resume_delete(api, inv):
    tid = submit(api_inv := inv, api.cfg, "aux:task:noop")
    st, body = post(api, "/api/v1/queues/default/pause")
    assert st == 200 and body == {"queue": "default", "paused": True}
    assert api_inv("queue", "inspect", "--queue", "default", "-o", "json",
                   config=api.cfg).json()["paused"] is True
    assert api.get("/api/v1/queues/default")["paused"] is True
    st, body = post(api, "/api/v1/queues/default/resume")
    assert st == 200 and body == {"queue": "default", "paused": False}
    st, body = post(api, "/api/v1/queues/nope/pause")
    assert st == 404
    st, body = post(api, f"/api/v1/tasks/{tid}", method="DELETE")
    assert st == 200 and body == {"queue": "default", "id": tid, "deleted": True}
    st, body = post(api, f"/api/v1/tasks/{tid}", method="DELETE")
    assert st == 404
    st, body = post(api, "/api/v1/tasks/nope/cancel")
    assert st == 404


def test_delete_active_conflicts_then_cancel(api, inv, inv_popen):
    st, body = post(api, "/api/v1/tasks", {"type": "aux:task:sleep",
                                           "payload": {"duration": "30s"}})
    assert st == 201
    tid = body["id"]
    start_worker(inv_popen, api.cfg)
    wait_until(lambda: api.get(f"/api/v1/tasks/{tid}")["state"] == "active", what="active")
    st, body = post(api, f"/api/v1/tasks/{tid}", method="DELETE")
    assert st == 409 and body["error"] == "conflict"
    st, body = post(api, f"/api/v1/tasks/{tid}/cancel")
    assert st == 202 and body["id"] == tid and body["receivers"] == 1
    wait_until(lambda: api.get(f"/api/v1/tasks/{tid}")["state"] == "archived", timeout=5,
               what="archived")
    st, body = post(api, f"/api/v1/tasks/{tid}", method="DELETE")
    assert st == 200


READS = ["/api/v1/queues", "/api/v1/workers", "/api/v1/scheduler/jobs", "/api/v1/models"]
CONTROLS = [("POST", "/api/v1/queues/default/pause"), ("POST", "/api/v1/queues/default/resume")]


@pytest.mark.parametrize("auth", ["token", "none"])
def test_auth_matrix(inv, inv_popen, make_config, db, auth):
    api = start_api(inv, inv_popen, make_config, auth=auth)
    submit(inv, api.cfg, "aux:task:noop")  # so queue "default" exists
    for token, read_want, control_want in (
            (None, 401 if auth == "token" else 200, 401),
            ("wrong", 401 if auth == "token" else 200, 401),
            (READ_TOKEN, 200, 403),
            (ADMIN_TOKEN, 200, 200)):
        for path in READS:
            st, body, _, r = api.req(path, token=token)
            assert st == read_want, (auth, token, path, st, body)
            if st == 401:
                assert r.getheader("WWW-Authenticate") == "Bearer"
        for method, path in CONTROLS:
            st, body, _, r = api.req(path, method=method, token=token)
            assert st == control_want, (auth, token, path, st, body)
            if st == 401:
                assert r.getheader("WWW-Authenticate") == "Bearer"
                assert body["error"] == "unauthorized"
            if st == 403:
                assert body["error"] == "forbidden"
        # submit, delete and cancel are control routes too
        for method, path in (("POST", "/api/v1/tasks"), ("DELETE", "/api/v1/tasks/x"),
                             ("POST", "/api/v1/tasks/x/cancel")):
            st, _, _, _ = api.req(path, method=method, token=token, body=b"{}")
            want = control_want if control_want != 200 else (400 if method == "POST" and
                                                              path.endswith("tasks") else 404)
            assert st == want, (auth, token, method, path, st)
