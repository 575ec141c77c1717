"""The task queue and the worker runtime against a real redis-server:
transitions, retries, conflicts, retention, scheduling, pause, priorities,
timeouts, cancellation, crash recovery, graceful shutdown, Redis restarts."""
import shutil
import urllib.request
import re
import signal
import subprocess
import time

import pytest

FAST = {"lease_duration": "2s", "retry_base_delay": "100ms", "retry_max_delay": "200ms",
        "shutdown_timeout": "1s", "metrics": {"address": "127.0.0.1:0"}}


def wait_until(cond, timeout=10, step=0.05, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(step)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def submit(inv, cfg, task, *extra):
    r = inv("task", "submit", "--task", task, *extra, config=cfg)
    assert r.rc == 0, r
    q, tid = r.out.strip().split("/", 1)
    return tid


def info(inv, cfg, queue="default"):
    r = inv("queue", "inspect", "--queue", queue, "-o", "json", config=cfg)
    assert r.rc == 0, r
    return r.json()


def task(inv, cfg, tid, queue="default"):
    r = inv("task", "inspect", "--id", tid, "--queue", queue, "-o", "json", config=cfg)
    return r.json() if r.rc == 0 else None


def submit_many(inv, cfg, n, *args):
    """n submissions from 8 threads (each one a real `task submit`)."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(8) as pool:
        rs = list(pool.map(lambda _: inv("task", "submit", *args, config=cfg), range(n)))
    assert all(r.rc == 0 for r in rs), [r for r in rs if r.rc][:1]
    return [r.out.strip().split("/", 1)[1] for r in rs]


def start_worker(inv_popen, cfg, *args):
    w = inv_popen("worker", "start", *args, config=cfg)
    w.wait_for(r"msg=\"worker started\"")
    return w


@pytest.fixture
def wcfg(make_config):
    def make(concurrency=4, queues=None, strict=False, **worker):
        section = dict(FAST, concurrency=concurrency, strict_priority=strict, **worker)
        if queues:
            section["queues"] = queues
        return make_config(worker=section)
    return make


def test_process_retention_and_stats(inv, inv_popen, wcfg):
    cfg = wcfg()
    ids = submit_many(inv, cfg, 20, "--task", "aux:task:noop", "--retention", "1h")
    assert info(inv, cfg)["pending"] == 20
    start_worker(inv_popen, cfg)
    wait_until(lambda: info(inv, cfg)["completed"] == 20, what="20 completed")
    qi = info(inv, cfg)
    assert qi["pending"] == qi["active"] == qi["archived"] == 0
    assert qi["processed_daily"] == 20 and qi["failed_daily"] == 0
    t = task(inv, cfg, ids[0])
    assert t["state"] == "completed" and t["completed_at_ms"] > 0
    r = inv("task", "completed", "--size", "5", "--page", "2", "-o", "json", config=cfg)
    assert len(r.json()) == 5


def test_no_retention_deletes_body(inv, inv_popen, wcfg, redis_db):
    cfg = wcfg()
    tid = submit(inv, cfg, "aux:task:noop")
    start_worker(inv_popen, cfg)
    wait_until(lambda: info(inv, cfg)["processed_daily"] == 1)
    assert inv("task", "inspect", "--id", tid, config=cfg).rc == 1
    assert redis_db.hlen("inv:{default}:msg") == 0
    assert redis_db.hlen("inv:{default}:state") == 0


def test_retry_with_backoff_then_archive(inv, inv_popen, wcfg):
    cfg = wcfg()
    tid = submit(inv, cfg, "aux:task:fail", "--data", '{"error":"boom"}', "--max-retry", "2")
    w = start_worker(inv_popen, cfg)
    wait_until(lambda: (task(inv, cfg, tid) or {}).get("state") == "archived", what="archived")
    t = task(inv, cfg, tid)
    assert t["retried"] == 2 and t["max_retry"] == 2
    assert t["last_error"] == "boom" and t["last_failed_at_ms"] > 0
    qi = info(inv, cfg)
    assert qi["processed_daily"] == 3 and qi["failed_daily"] == 3
    assert len(re.findall(r"task failed, will retry", w.err)) == 2


def test_permanent_unknown_and_corrupt_are_archived_at_once(inv, inv_popen, wcfg, redis_db):
    cfg = wcfg()
    perm = submit(inv, cfg, "aux:task:fail", "--data", '{"error":"bad","permanent":true}')
    unknown = submit(inv, cfg, "vendor:task:unknown", "--force")
    badpayload = submit(inv, cfg, "aux:task:sleep", "--data", "not json")
    # A task body corrupted inside Redis.
    corrupt = submit(inv, cfg, "aux:task:noop", "--process-in", "1h")
    redis_db.hset("inv:{default}:msg", corrupt, "garbage")
    redis_db.zadd("inv:{default}:scheduled", {corrupt: 0})
    w = start_worker(inv_popen, cfg)
    for tid in (perm, unknown, badpayload):
        wait_until(lambda: (task(inv, cfg, tid) or {}).get("state") == "archived",
                   what=f"{tid} archived")
    assert task(inv, cfg, perm)["retried"] == 0
    assert "no handler registered" in task(inv, cfg, unknown)["last_error"]
    assert "invalid payload" in task(inv, cfg, badpayload)["last_error"]
    wait_until(lambda: redis_db.zscore("inv:{default}:archived", corrupt) is not None,
               what="corrupt task archived")
    assert "corrupt task message" in w.wait_for(r"corrupt task body.*").group(0)
    assert w.alive
    # The worker goes on with good work.
    submit(inv, cfg, "aux:task:noop", "--retention", "1h")
    wait_until(lambda: info(inv, cfg)["completed"] == 1)


def test_id_conflict(inv, inv_popen, wcfg):
    cfg = wcfg()
    assert submit(inv, cfg, "aux:task:noop", "--id", "unique-1") == "unique-1"
    r = inv("task", "submit", "--task", "aux:task:noop", "--id", "unique-1", config=cfg)
    assert r.rc == 1 and "conflicts" in r.err
    # Another queue is another namespace.
    assert inv("task", "submit", "--task", "aux:task:noop", "--id", "unique-1", "-q", "other",
               config=cfg).rc == 0
    start_worker(inv_popen, cfg)
    wait_until(lambda: info(inv, cfg)["processed_daily"] == 1)
    # Gone after completion without retention: the id is free again.
    assert submit(inv, cfg, "aux:task:noop", "--id", "unique-1") == "unique-1"
    assert inv("task", "submit", "--task", "aux:task:noop", "--id", "bad id!",
               config=cfg).rc == 2


def test_retention_expires(inv, inv_popen, wcfg):
    cfg = wcfg()
    tid = submit(inv, cfg, "aux:task:noop", "--retention", "1s")
    start_worker(inv_popen, cfg)
    wait_until(lambda: (task(inv, cfg, tid) or {}).get("state") == "completed")
    wait_until(lambda: task(inv, cfg, tid) is None, timeout=5, what="retention expiry")


def test_scheduled_and_deadline(inv, inv_popen, wcfg):
    cfg = wcfg()
    tid = submit(inv, cfg, "aux:task:noop", "--process-in", "1s", "--retention", "1h")
    late = submit(inv, cfg, "aux:task:noop", "--process-in", "2s", "--deadline", "1s")
    assert task(inv, cfg, tid)["state"] == "scheduled"
    r = inv("task", "scheduled", "-o", "json", config=cfg).json()
    assert {x["id"] for x in r} == {tid, late}
    start_worker(inv_popen, cfg)
    t0 = time.monotonic()
    wait_until(lambda: (task(inv, cfg, tid) or {}).get("state") == "completed")
    assert time.monotonic() - t0 < 3
    wait_until(lambda: (task(inv, cfg, late) or {}).get("state") == "archived")
    assert task(inv, cfg, late)["last_error"] == "task deadline exceeded"


def test_pause_resume(inv, inv_popen, wcfg):
    cfg = wcfg()
    start_worker(inv_popen, cfg)
    assert inv("queue", "pause", config=cfg).out.strip() == "queue default paused"
    submit(inv, cfg, "aux:task:noop", "--retention", "1h")
    time.sleep(1.0)
    qi = info(inv, cfg)
    assert qi["paused"] is True and qi["pending"] == 1 and qi["latency_ms"] >= 900
    assert inv("queue", "resume", config=cfg).rc == 0
    wait_until(lambda: info(inv, cfg)["completed"] == 1, timeout=3)


def test_timeout_cancels_handler(inv, inv_popen, wcfg):
    cfg = wcfg()
    tid = submit(inv, cfg, "aux:task:sleep", "--data", '{"duration":"20s"}', "--timeout",
                 "500ms", "--max-retry", "0")
    start_worker(inv_popen, cfg)
    wait_until(lambda: (task(inv, cfg, tid) or {}).get("state") == "archived", timeout=5)
    assert task(inv, cfg, tid)["last_error"].startswith("task timeout exceeded")


def test_cancel_running_task(inv, inv_popen, wcfg):
    cfg = wcfg()
    tid = submit(inv, cfg, "aux:task:sleep", "--data", '{"duration":"30s"}')
    start_worker(inv_popen, cfg)
    wait_until(lambda: (task(inv, cfg, tid) or {}).get("state") == "active")
    active = inv("task", "active", "-o", "json", config=cfg).json()
    assert [a["id"] for a in active] == [tid] and not active[0]["orphaned"]
    r = inv("task", "delete", "--id", tid, config=cfg)
    assert r.rc == 1 and "running" in r.err
    r = inv("task", "cancel", "--id", tid, config=cfg)
    assert r.rc == 0 and "sent to 1 worker" in r.out
    wait_until(lambda: (task(inv, cfg, tid) or {}).get("state") == "archived", timeout=3)
    assert task(inv, cfg, tid)["last_error"].startswith("cancelled by operator")
    assert inv("task", "delete", "--id", tid, config=cfg).rc == 0
    assert task(inv, cfg, tid) is None


def test_drain_and_delete(inv, wcfg):
    cfg = wcfg()
    for _ in range(5):
        submit(inv, cfg, "aux:task:noop")
    keep = submit(inv, cfg, "aux:task:noop", "--process-in", "1h")
    assert inv("task", "delete", "--id", keep, config=cfg).rc == 0
    assert inv("task", "delete", "--id", keep, config=cfg).rc == 1
    r = inv("queue", "drain", "--type", "pending", config=cfg)
    assert r.out.strip() == "deleted 5 pending task(s) from queue default"
    assert info(inv, cfg)["size"] == 0
    assert inv("queue", "drain", "--type", "active", config=cfg).rc == 2
    assert inv("queue", "drain", config=cfg).rc == 2


def completion_order(redis_db, queues):
    """(completed_at, queue) of every completed task, oldest first."""
    out = []
    for q in queues:
        for _tid, score in redis_db.zrange(f"inv:{{{q}}}:completed", 0, -1, withscores=True):
            out.append((score, q))
    return sorted(out)


def test_weighted_priority(inv, inv_popen, wcfg, redis_db):
    cfg = wcfg(concurrency=1, queues={"high": 3, "low": 1})
    for q in ("high", "low"):
        submit_many(inv, cfg, 200, "--task", "aux:task:noop", "--retention", "1h", "-q", q)
    start_worker(inv_popen, cfg)
    wait_until(lambda: len(completion_order(redis_db, ["high", "low"])) >= 200, timeout=30)
    first = completion_order(redis_db, ["high", "low"])[:200]
    share = sum(1 for _, q in first if q == "high") / len(first)
    assert 0.65 <= share <= 0.85, share


def test_strict_priority(inv, inv_popen, wcfg, redis_db):
    # One handler and 5 ms tasks: completion order is execution order.
    cfg = wcfg(concurrency=1, queues={"critical": 5, "bulk": 1}, strict=True)
    for q in ("bulk", "critical"):
        submit_many(inv, cfg, 30, "--task", "aux:task:sleep", "--data", '{"duration":"5ms"}',
                    "--retention", "1h", "-q", q)
    start_worker(inv_popen, cfg)
    wait_until(lambda: len(completion_order(redis_db, ["critical", "bulk"])) == 60, timeout=30)
    order = [q for _, q in completion_order(redis_db, ["critical", "bulk"])]
    assert order == ["critical"] * 30 + ["bulk"] * 30, order


def test_kill9_recovery(inv, inv_popen, wcfg):
    cfg = wcfg(concurrency=1)
    tid = submit(inv, cfg, "aux:task:sleep", "--data", '{"duration":"1s"}', "--retention", "1h")
    a = start_worker(inv_popen, cfg)
    wait_until(lambda: (task(inv, cfg, tid) or {}).get("state") == "active")
    a.proc.kill()
    a.proc.wait()
    killed = time.monotonic()
    b = start_worker(inv_popen, cfg)
    wait_until(lambda: (task(inv, cfg, tid) or {}).get("state") == "completed", timeout=15)
    # lease 2s: back within lease + recovery tick, well inside 15 s
    assert time.monotonic() - killed < 8
    t = task(inv, cfg, tid)
    assert t["retried"] == 1 and "worker lost" in t["last_error"]
    assert "recovered tasks of a lost worker" in b.err
    # the dead worker's registry entry expires with its lease
    wait_until(lambda: len(inv("worker", "list", "-o", "json", config=cfg).json()) == 1,
               timeout=5)


def test_graceful_shutdown_requeues_at_head(inv, inv_popen, wcfg):
    cfg = wcfg(concurrency=3, shutdown_timeout="2s")
    short = submit(inv, cfg, "aux:task:sleep", "--data", '{"duration":"1s"}',
                   "--retention", "1h")
    long1 = submit(inv, cfg, "aux:task:sleep", "--data", '{"duration":"30s"}')
    long2 = submit(inv, cfg, "aux:task:sleep", "--data", '{"duration":"30s"}')
    w = start_worker(inv_popen, cfg)
    wait_until(lambda: len(inv("task", "active", "-o", "json", config=cfg).json()) == 3)
    queued = [submit(inv, cfg, "aux:task:noop") for _ in range(3)]
    t0 = time.monotonic()
    r = w.stop(signal.SIGTERM, timeout=10)
    assert r.rc == 0 and time.monotonic() - t0 < 6
    assert "shutdown timeout: running tasks cancelled and requeued" in r.err
    # The short task finished within the shutdown timeout ...
    assert task(inv, cfg, short)["state"] == "completed"
    # ... the long ones went back to the head, ahead of what was waiting.
    pending = [x["id"] for x in inv("task", "pending", "-o", "json", config=cfg).json()]
    assert set(pending[:2]) == {long1, long2} and pending[2:] == queued
    assert task(inv, cfg, long1)["retried"] == 0
    assert inv("worker", "list", "-o", "json", config=cfg).json() == []


def test_worker_list_and_ping(inv, inv_popen, wcfg):
    cfg = wcfg(concurrency=3)
    w = start_worker(inv_popen, cfg)
    r = inv("worker", "list", config=cfg)
    lines = r.out.splitlines()
    assert lines[0].split() == ["HOST", "PID", "CONCURRENCY", "STATUS", "UPTIME"]
    assert lines[2].split()[1:4] == [str(w.pid), "3", "active"]
    name = inv("worker", "list", "-o", "json", config=cfg).json()[0]["name"]
    assert name.endswith(f"/{w.pid}")
    r = inv("worker", "ping", "--name", name, config=cfg)
    assert r.rc == 0 and r.out.strip() == f"{name}: OK"
    r = inv("worker", "ping", "--name", "nohost/1", config=cfg)
    assert r.rc == 1


def test_redis_restart_under_load(inv, inv_popen, make_config, durable_redis):
    cfg = make_config(endpoint=durable_redis.endpoint, worker=dict(FAST, concurrency=8))
    n = 200
    submit_many(inv, cfg, n, "--task", "aux:task:sleep", "--data", '{"duration":"20ms"}',
                "--retention", "1h")
    w = start_worker(inv_popen, cfg)
    wait_until(lambda: info(inv, cfg)["completed"] >= 30, what="some progress")
    durable_redis.restart(down_for=1.0)
    wait_until(lambda: info(inv, cfg)["completed"] == n, timeout=60, what="all completed")
    qi = info(inv, cfg)
    assert qi["archived"] == 0 and qi["pending"] == 0 and qi["active"] == 0
    # each task ran to completion once: no attempt was recorded twice or lost
    assert qi["processed_total"] == n and qi["failed_total"] == 0
    assert w.alive
    assert "redis connection restored" in w.err


def test_metrics_endpoint(inv, inv_popen, wcfg, tmp_path):
    cfg = wcfg()
    w = start_worker(inv_popen, cfg)
    port = int(w.wait_for(r"http server listening.*port=(\d+)").group(1))
    for _ in range(3):
        submit(inv, cfg, "aux:task:noop")
    submit(inv, cfg, "aux:task:fail", "--data", '{"permanent":true}')
    submit(inv, cfg, "aux:task:noop", "--process-in", "1h")
    wait_until(lambda: info(inv, cfg)["processed_daily"] == 4)
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'inventory_tasks_succeeded_total{queue="default",task="aux:task:noop"} 3' in body
    assert 'inventory_tasks_failed_total{queue="default",task="aux:task:fail"} 1' in body
    assert 'inventory_task_duration_seconds_count{queue="default",task="aux:task:noop"} 3' in body
    assert 'inventory_queue_size{queue="default",state="scheduled"} 1' in body
    assert 'inventory_queue_size{queue="default",state="archived"} 1' in body
    assert 'inventory_queue_paused{queue="default"} 0' in body
    assert "inventory_tasks_in_flight 0" in body
    health = urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5)
    assert health.status == 200
    promtool = shutil.which("promtool")
    if promtool:
        r = subprocess.run([promtool, "check", "metrics"], input=body.encode(),
                           capture_output=True, timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr
