"""The API reading from a streaming replica (api.database.dsn): a real hot
standby of the test stack's PostgreSQL, made with pg_basebackup."""
import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import psycopg2
import pytest

from conftest import free_port, parse_env_file


def as_pg(*cmd):
    """Runs a PostgreSQL program as the user the stack's server runs as."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run(prefix + [str(c) for c in cmd], cwd="/", capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def replica(stack):
    """A hot standby of the stack's server on a free port: its port."""
    state = parse_env_file(stack.dir / "state")
    pgbin = f"/usr/lib/postgresql/{(stack.dir / 'pg' / 'PG_VERSION').read_text().strip()}/bin"
    rdir = stack.dir / f"replica-{secrets.token_hex(4)}"
    rdir.mkdir(mode=0o700)
    if os.geteuid() == 0:
        shutil.chown(rdir, "postgres", "postgres")
    r = as_pg(f"{pgbin}/pg_basebackup", "-D", rdir, "-h", state["PG_SOCKDIR"], "-p",
              stack.pg_port, "-U", "postgres", "-R", "-X", "stream", "-c", "fast", "--no-sync")
    assert r.returncode == 0, r.stderr
    port = free_port()
    # The copied inventory.conf is the primary's; the standby gets its own port.
    conf = rdir / "inventory.conf"
    conf.write_text(conf.read_text().replace(f"port = {stack.pg_port}", f"port = {port}"))
    r = as_pg(f"{pgbin}/pg_ctl", "-D", rdir, "-l", rdir / "replica.log", "-w", "-t", "60", "-s",
              "start")
    assert r.returncode == 0, r.stderr + (rdir / "replica.log").read_text(errors="replace")
    state = {"up": True}

    def stop():
        if state["up"]:
            as_pg(f"{pgbin}/pg_ctl", "-D", rdir, "-m", "immediate", "-s", "stop")
            state["up"] = False

    yield port, stop
    stop()
    shutil.rmtree(rdir, ignore_errors=True)


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def api_sessions(stack, port, dbname):
    c = psycopg2.connect(host="127.0.0.1", port=port, user=stack.pg_user,
                         password=stack.pg_password, dbname=dbname, connect_timeout=10)
    try:
        with c.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                        "AND application_name = 'inventory'", (dbname,))
            return cur.fetchone()[0]
    finally:
        c.close()


def test_reads_from_replica(stack, inv, inv_popen, make_config, db, replica):
    rport, stop_replica = replica
    cfg = make_config(api={"address": "127.0.0.1:0", "auth": "none", "threads": 2,
                           "database": {"dsn": db.dsn.replace(f":{stack.pg_port}/",
                                                              f":{rport}/")}})
    for step in ("init", "migrate"):
        r = inv("db", step, config=cfg)
        assert r.rc == 0, r.err
    for i in range(5):
        db.query("INSERT INTO aws_instance (instance_id, account_id, region_name) "
                 "VALUES (%s, '111', 'eu-west-1')", (f"i-r{i}",))
    p = inv_popen("api", "start", config=cfg)
    port = int(p.wait_for(r"http server listening.*port=(\d+)").group(1))

    # Rows written on the primary reach the API once the standby replays them.
    deadline = time.monotonic() + 30
    while True:
        st, body = get(port, "/api/v1/aws/instances?sort=instance_id")
        if st == 200 and len(body["items"]) == 5:
            break
        assert time.monotonic() < deadline, (st, body)
        time.sleep(0.2)
    assert [i["instance_id"] for i in body["items"]] == [f"i-r{i}" for i in range(5)]
    assert get(port, "/ready") == (200, {"status": "ok",
                                         "checks": {"postgres": "ok", "redis": "ok"}})
    # Its sessions are on the standby, none on the primary.
    assert api_sessions(stack, rport, db.name) >= 1
    assert api_sessions(stack, stack.pg_port, db.name) == 0

    # Without the standby the API has no database, though the primary is up.
    stop_replica()
    st, body = get(port, "/api/v1/aws/instances")
    assert st == 503 and body["error"] == "database unavailable", body
    st, body = get(port, "/ready")
    assert st == 503 and body["checks"]["postgres"] == "failed", body
    assert db.query("SELECT count(*) FROM aws_instance")[0][0] == 5
