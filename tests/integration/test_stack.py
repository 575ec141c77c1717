"""The harness itself: scripts/stack's servers and the fixtures in conftest.py."""
import os
import stat
import subprocess

import psycopg2
import pytest

from conftest import STACK_SCRIPT, parse_env_file


def test_postgres_password_auth_over_tcp(stack):
    conn = psycopg2.connect(host="127.0.0.1", port=stack.pg_port, user="inventory",
                            password=stack.pg_password, dbname="inventory", connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user, inet_server_addr()::text, "
                        "current_setting('listen_addresses'), rolcreatedb "
                        "FROM pg_roles WHERE rolname = current_user")
            user, addr, listen, createdb = cur.fetchone()
    finally:
        conn.close()
    assert user == "inventory"
    assert addr.startswith("127.0.0.1")  # TCP, not the unix socket
    assert listen == "127.0.0.1"
    assert createdb


def test_postgres_refuses_wrong_password(stack):
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(host="127.0.0.1", port=stack.pg_port, user="inventory",
                         password="wrong-" + stack.pg_password, dbname="inventory",
                         connect_timeout=5)
    # The superuser has no password: no TCP login at all.
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(host="127.0.0.1", port=stack.pg_port, user="postgres",
                         password="", dbname="postgres", connect_timeout=5)


def test_redis_answers_ping(stack, redis_db):
    assert redis_db.ping()
    assert redis_db.endpoint == f"127.0.0.1:{stack.redis_port}"
    assert redis_db.config_get("bind")["bind"] == "127.0.0.1"
    assert redis_db.dbsize() == 0


def test_per_test_databases_are_distinct(stack, db, db_factory):
    other = db_factory()
    assert db.name != other.name
    assert db.name.startswith("test_") and db.dsn.endswith(f"/{db.name}?sslmode=disable")
    db.query("CREATE TABLE only_here (x int)")
    db.query("INSERT INTO only_here VALUES (%s), (%s)", (1, 2))
    assert db.query("SELECT sum(x) FROM only_here") == [(3,)]
    assert other.query("SELECT to_regclass('only_here') IS NULL") == [(True,)]
    assert db.query("SELECT current_database(), pg_get_userbyid(datdba) FROM pg_database "
                    "WHERE datname = current_database()") == [(db.name, "inventory")]
    # The dsn works on its own, as the binary would use it.
    conn = psycopg2.connect(db.dsn)
    conn.close()


_seen = {}


@pytest.mark.parametrize("round", [1, 2])
def test_state_does_not_leak_between_tests(round, db, redis_db, stack):
    """Round 2 sees a new database, round 1's database dropped, redis empty."""
    assert redis_db.dbsize() == 0
    redis_db.set("leak", str(round))
    if round == 1:
        _seen["db"] = db.name
        return
    assert "db" in _seen and _seen["db"] != db.name
    assert db.query("SELECT count(*) FROM pg_database WHERE datname = %s",
                    (_seen["db"],)) == [(0,)]


def test_env_and_config_files_are_private(stack):
    for name in ("env", "config.yaml", "password"):
        mode = stat.S_IMODE(os.stat(stack.dir / name).st_mode)
        assert mode == 0o600, f"{name}: {oct(mode)}"
    env = parse_env_file(stack.dir / "env")
    assert env["INVENTORY_STACK_DIR"] == str(stack.dir)
    assert env["PGHOST"] == "127.0.0.1" and env["PGUSER"] == "inventory"
    assert env["PGDATABASE"] == "inventory"
    assert env["DATABASE_URI"] == stack.dsn("inventory")
    assert env["REDIS_ENDPOINT"] == f"127.0.0.1:{stack.redis_port}"
    text = (stack.dir / "config.yaml").read_text()
    assert env["INVENTORY_CONFIG"] == str(stack.dir / "config.yaml")
    assert f"endpoint: 127.0.0.1:{stack.redis_port}" in text
    assert f'dsn: "{env["DATABASE_URI"]}"' in text


def test_stack_status_and_env_commands(stack):
    r = subprocess.run([str(STACK_SCRIPT), "status", "--dir", str(stack.dir)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert f"127.0.0.1:{stack.pg_port}" in r.stdout
    assert f"127.0.0.1:{stack.redis_port}" in r.stdout
    r = subprocess.run([str(STACK_SCRIPT), "env", "--dir", str(stack.dir)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and f"export PGPORT={stack.pg_port}" in r.stdout


def test_make_config_points_at_the_test_database(make_config, db, redis_db, tmp_path):
    path = make_config()
    assert isinstance(path, str) and path.startswith(str(tmp_path))
    text = open(path).read()
    assert f'dsn: "{db.dsn}"' in text and f"endpoint: {redis_db.endpoint}" in text
    path = make_config(migration_dir="/x y", level="debug", redis_password="p w#x",
                       database_connect_timeout="1s", extra="worker:\n  concurrency: 2\n")
    text = open(path).read()
    assert 'migration_dir: "/x y"' in text and "level: debug" in text
    assert 'password: "p w#x"' in text and "connect_timeout: 1s" in text
    assert text.endswith("worker:\n  concurrency: 2\n")
    assert "redis:" not in open(make_config(redis=None)).read()


def test_inv_fails_loudly_on_sanitizer_reports(inv, tmp_path):
    fake = tmp_path / "fake-inventory"
    fake.write_text("#!/bin/sh\necho '==1==ERROR: AddressSanitizer: heap-use-after-free' >&2\n"
                    "exit 1\n")
    fake.chmod(0o755)
    with pytest.raises(pytest.fail.Exception, match="sanitizer report"):
        inv("version", binary=fake)


def test_inv_env_is_scrubbed_and_args_passed(inv, tmp_path, monkeypatch):
    fake = tmp_path / "fake-inventory"
    fake.write_text('#!/bin/sh\necho "args:$*"\necho "cfg:${INVENTORY_CONFIG-unset}"\n'
                    'echo "uri:${DATABASE_URI-unset}" >&2\ncat\n')
    fake.chmod(0o755)
    monkeypatch.setenv("INVENTORY_CONFIG", "/leaked.yaml")
    monkeypatch.setenv("DATABASE_URI", "postgresql://leak")
    r = inv("db", "status", config="/c.yaml", binary=fake, input="hello\n",
            env={"DATABASE_URI": "postgresql://given"})
    assert r.rc == 0
    assert r.out == "args:--config /c.yaml db status\ncfg:unset\nhello\n"
    assert r.err == "uri:postgresql://given\n"


def test_inv_popen_stops_long_running_processes(inv_popen, tmp_path):
    fake = tmp_path / "fake-worker"
    fake.write_text("#!/bin/sh\ntrap 'echo stopping >&2; exit 0' TERM\n"
                    "echo ready >&2\nwhile :; do sleep 0.1; done\n")
    fake.chmod(0o755)
    p = inv_popen("worker", binary=fake)
    p.wait_for("ready")
    assert p.alive
    r = p.stop()
    assert not p.alive and r.rc == 0 and "stopping" in r.err
