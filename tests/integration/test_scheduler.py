"""The periodic scheduler: specs and config errors, exactly-once ticks with
several schedulers, a scheduler killed mid-run, catch-up after an outage,
introspection and metrics."""
import json
import re
import signal
import time
import urllib.request

import pytest
import redis as redis_lib

from test_queue import wait_until


def sched_cfg(make_config, jobs, **sched):
    """Only the given jobs: the code's own (the reaper) are switched off."""
    section = {"metrics": {"address": "127.0.0.1:0"}, **sched}
    if jobs is not None:
        section["jobs"] = jobs
    return make_config(scheduler=section, hosts={"reaper": False})


def tick_tasks(redis_db, queue="default"):
    """Task ids of periodic tasks in any state, as (job8, tick_s) pairs."""
    ids = redis_db.hkeys(f"inv:{{{queue}}}:state")
    out = []
    for i in ids:
        m = re.fullmatch(r"sched:([0-9a-f]{8}):(\d+)", i)
        if m:
            out.append((m.group(1), int(m.group(2))))
    return out


def start(inv_popen, cfg):
    p = inv_popen("scheduler", "start", config=cfg)
    p.wait_for(r'msg="scheduler started"')
    return p


@pytest.mark.parametrize("jobs,needle", [
    ([{"name": "aux:task:noop", "spec": "61 * * * *"}], r":\d+: scheduler.jobs\[0\].spec: "
                                                        r'"61 \* \* \* \*": field "minute"'),
    ([{"name": "aux:task:noop", "spec": "@every 1s"},
      {"name": "nope:task:x", "spec": "@hourly"}],
     r':\d+: scheduler.jobs\[1\].name: unknown task "nope:task:x"'),
    ([{"name": "aux:task:noop", "spec": "@every 0s"}],
     r':\d+: scheduler.jobs\[0\].spec: "@every 0s": .*minimum of 1s'),
    ([{"name": "aux:task:noop", "spec": "@hourly", "payload": "a: [1, 2"}],
     r":\d+: scheduler.jobs\[0\].payload: payload: line"),
])
def test_config_errors(inv, make_config, jobs, needle):
    cfg = sched_cfg(make_config, jobs)
    r = inv("scheduler", "start", config=cfg)
    assert r.rc == 2
    assert re.search(re.escape(cfg) + needle, r.err), r.err


def test_bad_timezone(inv, make_config):
    cfg = sched_cfg(make_config, [{"name": "aux:task:noop", "spec": "0 3 * * *"}],
                    timezone="Mars/Olympus")
    r = inv("scheduler", "start", config=cfg)
    assert r.rc == 2 and "Mars/Olympus" in r.err


def test_three_schedulers_exactly_once_and_kill(inv, inv_popen, make_config, redis_db):
    cfg = sched_cfg(make_config, [{"name": "aux:task:noop", "spec": "@every 1s",
                                   "desc": "tick"}])
    scheds = [start(inv_popen, cfg) for _ in range(3)]
    t0 = time.time()
    time.sleep(20)
    scheds[0].proc.kill()  # mid-run, no goodbye
    scheds[0].proc.wait()
    time.sleep(45)
    for s in scheds[1:]:
        assert s.stop().rc == 0
    t1 = time.time()
    ticks = sorted(t for _, t in tick_tasks(redis_db))
    assert len(ticks) >= 60
    assert len(ticks) == len(set(ticks)), "a tick was enqueued twice"
    # no gap: consecutive seconds from the first to the last tick
    assert ticks == list(range(ticks[0], ticks[-1] + 1))
    assert ticks[0] <= t0 + 2 and ticks[-1] >= t1 - 2
    assert redis_db.llen("inv:{default}:pending") == len(ticks)
    # each scheduler logged its own enqueues; together they made every tick
    made = sum(len(re.findall(r'msg="enqueued periodic task"', s.err)) for s in scheds)
    assert made == len(ticks)


def test_jobs_history_and_metrics(inv, inv_popen, make_config, redis_db):
    cfg = sched_cfg(make_config, [
        {"name": "aux:task:noop", "spec": "@every 1s"},
        {"name": "aux:task:delete-archived-tasks", "spec": "0 3 * * *",
         "payload": "queue: default\n", "queue": "maint"},
    ])
    s = start(inv_popen, cfg)
    wait_until(lambda: len(tick_tasks(redis_db)) >= 2, timeout=5)
    r = inv("scheduler", "jobs", config=cfg)
    assert r.rc == 0
    head, *rows = [l for l in r.out.splitlines() if l.strip() and not l.startswith("-")]
    assert head.split() == ["ID", "SPEC", "TYPE", "PREV", "NEXT"]
    assert len(rows) == 2
    jobs = inv("scheduler", "jobs", "-o", "json", config=cfg).json()
    every = next(j for j in jobs if j["spec"] == "@every 1s")
    daily = next(j for j in jobs if j["spec"] == "0 3 * * *")
    assert every["prev_ms"] and every["next_ms"] > every["prev_ms"]
    assert daily["prev_ms"] is None and daily["queue"] == "maint"
    assert json.loads(daily["payload"]) == {"queue": "default"}
    assert re.fullmatch(r"[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}", every["id"])
    assert len(inv("scheduler", "jobs", "--size", "1", "--page", "2", "-o", "json",
                   config=cfg).json()) == 1
    h = inv("scheduler", "history", "--id", every["id"], "-o", "json", config=cfg).json()
    assert len(h) >= 2 and h[0]["tick_ms"] > h[1]["tick_ms"]
    assert h[0]["task_id"].startswith("sched:" + every["id"][:8])
    port = int(s.wait_for(r"http server listening.*port=(\d+)").group(1))
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert re.search(r'inventory_scheduler_enqueues_total\{job="%s",task="aux:task:noop"\} [1-9]'
                     % every["id"], body)
    assert "inventory_scheduler_last_enqueue_timestamp_seconds" in body
    # entries of a stopped scheduler disappear
    s.stop()
    assert inv("scheduler", "jobs", "-o", "json", config=cfg).json() == []


def test_catch_up_once_after_outage(inv, inv_popen, make_config, redis_db):
    cfg = sched_cfg(make_config, [{"name": "aux:task:noop", "spec": "@every 2s"}])
    s = start(inv_popen, cfg)
    wait_until(lambda: len(tick_tasks(redis_db)) >= 1, timeout=5)
    s.stop()
    before = set(t for _, t in tick_tasks(redis_db))
    time.sleep(7)  # several ticks missed while no scheduler ran
    s2 = start(inv_popen, cfg)
    x = int(s2.wait_for(r'catching up a missed tick.*tick_ms=(\d+)').group(1)) // 1000
    wait_until(lambda: x in set(t for _, t in tick_tasks(redis_db)), timeout=3)
    new = set(t for _, t in tick_tasks(redis_db)) - before
    # one catch-up for the latest missed tick, not a burst of the others
    assert sorted(t for t in new if t <= x) == [x]
    assert max(before) < x - 2
    s2.stop()


def test_no_catch_up_when_disabled(inv, inv_popen, make_config, redis_db):
    cfg = sched_cfg(make_config, [{"name": "aux:task:noop", "spec": "@every 2s"}],
                    catch_up=False)
    s = start(inv_popen, cfg)
    wait_until(lambda: len(tick_tasks(redis_db)) >= 1, timeout=5)
    s.stop()
    before = set(t for _, t in tick_tasks(redis_db))
    time.sleep(5)
    t_start = time.time()
    s2 = start(inv_popen, cfg)
    time.sleep(2.5)
    new = set(t for _, t in tick_tasks(redis_db)) - before
    missed = int(t_start) // 2 * 2  # the latest tick before the restart
    assert new and missed not in new and all(t > missed for t in new)
    assert "catching up" not in s2.err
    s2.stop()


def test_dead_scheduler_entries_vanish(inv, inv_popen, make_config):
    cfg = sched_cfg(make_config, [{"name": "aux:task:noop", "spec": "@every 1h"}])
    s = start(inv_popen, cfg)
    assert len(inv("scheduler", "jobs", "-o", "json", config=cfg).json()) == 1
    s.proc.send_signal(signal.SIGKILL)
    s.proc.wait()
    t0 = time.monotonic()
    wait_until(lambda: inv("scheduler", "jobs", "-o", "json", config=cfg).json() == [],
               timeout=30, step=0.5, what="a dead scheduler's entries to vanish")
    assert time.monotonic() - t0 <= 16


def test_redis_restart(inv, inv_popen, make_config, durable_redis):
    cfg = make_config(endpoint=durable_redis.endpoint,
                      scheduler={"metrics": {"address": "127.0.0.1:0"},
                                 "jobs": [{"name": "aux:task:noop", "spec": "@every 1s"}]})
    s = start(inv_popen, cfg)
    r = redis_lib.Redis.from_url(f"redis://{durable_redis.endpoint}", decode_responses=True)
    ticks = lambda: sorted(t for _, t in tick_tasks(r))  # noqa: E731
    wait_until(lambda: len(ticks()) >= 2, timeout=5)
    durable_redis.restart(down_for=2.5)
    t_up = time.time()
    wait_until(lambda: ticks() and ticks()[-1] >= t_up + 2, timeout=10, what="ticks after restart")
    s.stop()
    got = ticks()
    assert len(got) == len(set(got))
    # ticks due while Redis was down are not replayed one by one: the newest
    # owed tick takes their place, then the grid continues
    assert any(b - a >= 2 for a, b in zip(got, got[1:])), got
    assert s.proc.returncode == 0
    assert "periodic enqueue failed" in s.err
