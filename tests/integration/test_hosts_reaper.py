"""The reaper (docs/hosts.md, Staleness): culled hosts — per-org delete
thresholds — are deleted in chunks with a delete event each; the others
stay."""
import json

from streams import assert_host_counts
from test_queue import FAST, start_worker, submit, task, wait_until

EVENTS = "platform.inventory.events"


def test_reaper_deletes_culled_hosts_in_chunks(inv, inv_popen, make_config, db, redis_db):
    cfg = make_config(worker=dict(FAST, concurrency=1), hosts={"reaper_chunk": 2})
    for step in ("init", "migrate"):
        r = inv("db", step, config=cfg)
        assert r.rc == 0, r.err
    db.query("INSERT INTO hbi_staleness (org_id, conventional_time_to_stale,"
             " conventional_time_to_stale_warning, conventional_time_to_delete)"
             " VALUES ('b', 3600, 7200, 172800)")
    ages = {("a", "a-old1"): "31 days", ("a", "a-old2"): "40 days",
            ("a", "a-old3"): "30 days 1 hour", ("a", "a-week"): "10 days", ("b", "b-3d"): "3 days",
            ("b", "b-1d"): "1 day", ("c", "c-new"): "1 minute"}
    for (org, name), age in ages.items():
        db.query("INSERT INTO hbi_host (id, org_id, display_name, subscription_manager_id,"
                 " last_check_in) VALUES (gen_random_uuid(), %s, %s, gen_random_uuid(),"
                 " now() - %s::interval)", (org, name, age))
    gone = {n: i for n, i in db.query(
        "SELECT display_name, id::text FROM hbi_host WHERE display_name IN"
        " ('a-old1', 'a-old2', 'a-old3', 'b-3d')")}
    w = start_worker(inv_popen, cfg)
    tid = submit(inv, cfg, "hosts:task:reap-culled", "--retention", "1h")
    wait_until(lambda: (task(inv, cfg, tid) or {}).get("state") == "completed",
               what="reaper done")
    left = sorted(n for (n,) in db.query("SELECT display_name FROM hbi_host"))
    assert left == ["a-week", "b-1d", "c-new"]
    assert_host_counts(db)
    events = [e for _, e in redis_db.xrange(EVENTS)]
    assert sorted(e["id"] for e in events) == sorted(gone.values())
    for e in events:
        assert e["type"] == "delete"
        body = json.loads(e["data"])
        assert body["type"] == "delete" and body["id"] == e["id"]
        assert body["org_id"] == e["org_id"] == ("b" if e["id"] == gone["b-3d"] else "a")
        assert body["host"]["id"] == e["id"]
    assert 'msg="reaper: culled hosts deleted"' in w.err and "count=4" in w.err
    # nothing culled is left: a second run deletes nothing and emits nothing
    tid = submit(inv, cfg, "hosts:task:reap-culled", "--retention", "1h")
    wait_until(lambda: (task(inv, cfg, tid) or {}).get("state") == "completed")
    assert len(redis_db.xrange(EVENTS)) == 4
    w.stop()


def test_the_scheduler_runs_the_reaper_unless_turned_off(inv, inv_popen, make_config):
    from test_scheduler import start
    for reaper, want in ((True, ["hosts:task:reap-culled"]), (False, [])):
        cfg = make_config(scheduler={"metrics": {"address": "127.0.0.1:0"}},
                          hosts={"reaper": reaper})
        s = start(inv_popen, cfg)
        jobs = inv("scheduler", "jobs", "-o", "json", config=cfg).json()
        assert [j["type"] for j in jobs] == want, jobs
        assert all(j["spec"] == "@every 1h" and j["origin"] == "code" for j in jobs)
        s.stop()
