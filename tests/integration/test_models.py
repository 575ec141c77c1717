"""Models against the migrated schema: the registry matches the tables,
`inventory model list|query`, and the housekeeper (stale rows deleted with
their links, runs recorded, bad payloads archived at once)."""
import json

import pytest

from test_queue import FAST, start_worker, submit, task, wait_until


@pytest.fixture
def migrated(inv, make_config, db):
    cfg = make_config(worker=dict(FAST, concurrency=2))
    assert inv("db", "init", config=cfg).rc == 0
    r = inv("db", "migrate", config=cfg)
    assert r.rc == 0, r.err
    return cfg


def test_registry_matches_schema(inv, migrated, db):
    models = inv("model", "list", "-o", "json", config=migrated).json()
    assert len(models) >= 20
    for m in models:
        r = inv("model", "query", "--model", m["name"], "--limit", "1", "-o", "csv",
                config=migrated)
        assert r.rc == 0, r.err
        cols = r.out.splitlines()[0].split(",")
        got = [c for (c,) in db.query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
            "ORDER BY ordinal_position", (m["table"],))]
        assert sorted(cols) == sorted(got), m["name"]
        if m["name"].startswith("aws:model:link_"):
            # a link row needs both ends; deleting an end deletes the link
            fks = db.query("SELECT confdeltype FROM pg_constraint WHERE contype = 'f' AND "
                           "conrelid = %s::regclass", (m["table"],))
            assert [d for (d,) in fks] == ["c", "c"], m["name"]


def test_query_filters_and_errors(inv, migrated, db):
    db.query("INSERT INTO aws_vpc (vpc_id, account_id, region_name, name, is_default) VALUES "
             "('vpc-1', '111', 'eu-west-1', 'a', true), ('vpc-2', '111', 'eu-west-1', 'b', false),"
             "('vpc-3', '222', 'us-east-1', 'c''\"x', false)")
    rows = inv("model", "query", "-m", "aws:model:vpc", "-f", "account_id=111", "-o", "json",
               config=migrated).json()
    assert [r["vpc_id"] for r in rows] == ["vpc-1", "vpc-2"]
    assert rows[0]["is_default"] is True and isinstance(rows[0]["id"], int)
    rows = inv("model", "query", "-m", "aws:model:vpc", "-f", "account_id=111", "-f", "name=b",
               "-o", "json", config=migrated).json()
    assert [r["vpc_id"] for r in rows] == ["vpc-2"]
    # values are parameters, not SQL
    rows = inv("model", "query", "-m", "aws:model:vpc", "-f", "name=c'\"x", "-o", "json",
               config=migrated).json()
    assert [r["vpc_id"] for r in rows] == ["vpc-3"]
    assert len(inv("model", "query", "-m", "aws:model:vpc", "--limit", "2", "-o", "json",
                   config=migrated).json()) == 2
    out = inv("model", "query", "-m", "aws:model:vpc", config=migrated).out
    assert out.splitlines()[0].split()[:3] == ["ID", "VPC_ID", "NAME"]
    for args, needle in [(["-m", "aws:model:nope"], "unknown model"),
                         (["-m", "aws:model:vpc", "-f", "x=1"], 'no column "x"'),
                         (["-m", "aws:model:vpc", "-f", "name"], "column=value"),
                         (["-m", "aws:model:vpc", "-f", "name;drop table x=1"], "no column")]:
        r = inv("model", "query", *args, config=migrated)
        assert r.rc == 2 and needle in r.err, (args, r.err)


def test_housekeeper(inv, inv_popen, migrated, db):
    q = db.query
    q("INSERT INTO aws_region (name, endpoint, opt_in_status, account_id) VALUES "
      "('eu-west-1', 'e', 'x', '111')")
    q("INSERT INTO aws_vpc (vpc_id, account_id, region_name, updated_at) VALUES "
      "('vpc-old', '111', 'eu-west-1', now() - interval '5 hours'), "
      "('vpc-new', '111', 'eu-west-1', now() - interval '1 hour')")
    q("INSERT INTO l_aws_region_to_vpc (region_id, vpc_id) SELECT r.id, v.id FROM aws_region r, "
      "aws_vpc v")
    assert q("SELECT count(*) FROM l_aws_region_to_vpc")[0][0] == 2
    w = start_worker(inv_popen, migrated)
    payload = json.dumps({"retention": [{"name": "aws:model:vpc", "duration": "4h"},
                                        {"name": "aws:model:region", "duration": "4h"}]})
    tid = submit(inv, migrated, "aux:task:housekeeper", "--data", payload, "--retention", "1h")
    wait_until(lambda: (task(inv, migrated, tid) or {}).get("state") == "completed",
               what="housekeeper done")
    assert [v for (v,) in q("SELECT vpc_id FROM aws_vpc")] == ["vpc-new"]
    assert q("SELECT count(*) FROM l_aws_region_to_vpc")[0][0] == 1  # cascaded
    assert q("SELECT count(*) FROM aws_region")[0][0] == 1  # fresh: kept
    runs = q("SELECT model_name, retention_seconds, deleted FROM aux_housekeeper_run "
             "ORDER BY model_name")
    assert runs == [("aws:model:region", 14400, 0), ("aws:model:vpc", 14400, 1)]
    for bad, needle in [({"retention": [{"name": "aws:model:nope", "duration": "1h"}]},
                         "unknown model"),
                        ({"retention": [{"name": "aws:model:vpc", "duration": "0s"}]},
                         "at least 1m"),
                        ({}, "non-empty list")]:
        tid = submit(inv, migrated, "aux:task:housekeeper", "--data", json.dumps(bad))
        t = wait_until(lambda: (task(inv, migrated, tid) or {}).get("state") == "archived"
                       and task(inv, migrated, tid), what="archived")
        assert needle in t["last_error"] and t["retried"] == 0, t
    assert [v for (v,) in q("SELECT vpc_id FROM aws_vpc")] == ["vpc-new"]
    w.stop()
