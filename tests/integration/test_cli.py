"""The CLI's contract: help at every level, exit codes, configuration errors
with file:line, bounded connection failures, env overrides, no secrets."""
import json
import re
import socket
import threading
import time

import pytest


def one_line(text):
    lines = [l for l in text.splitlines() if l.strip()]
    assert len(lines) == 1, text
    return lines[0]


def test_version(inv):
    r = inv("version")
    assert r.rc == 0
    assert re.fullmatch(r"inventory version \d+\.\d+\.\d+ \(commit \w+\)\n", r.out), r.out
    j = json.loads(inv("version", "-o", "json").out)
    assert set(j) == {"version", "commit"}


@pytest.mark.parametrize("args", [["--help"], ["db", "--help"], ["db", "migrate", "--help"],
                                  ["db", "create", "-h"], ["status", "--help"],
                                  ["version", "--help"]])
def test_help_everywhere(inv, args):
    r = inv(*args)
    assert r.rc == 0 and r.out.startswith("inventory") and "Usage:" in r.out


@pytest.mark.parametrize("args,needle", [
    ([], "Commands:"),
    (["db"], "Commands:"),
    (["nosuch"], 'unknown command "nosuch"'),
    (["db", "nosuch"], 'unknown command "nosuch"'),
    (["db", "status", "--nosuch"], "unknown option --nosuch"),
    (["db", "status", "extra"], 'unexpected argument "extra"'),
    (["version", "-o", "yaml"], "expected table, json or csv"),
    (["db", "status", "--config"], "needs a value"),
])
def test_usage_errors_exit_2(inv, args, needle):
    r = inv(*args)
    assert r.rc == 2
    assert needle in r.err


def test_config_errors_name_file_and_line(inv, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: v1alpha1\nredis:\n  endpoint: 127.0.0.1:6379\n  dbx: 1\n")
    r = inv("db", "status", config=str(bad))
    assert r.rc == 2
    assert one_line(r.err) .startswith(f"error: {bad}:4: ")
    assert "dbx" in r.err

    syntax = tmp_path / "syntax.yaml"
    syntax.write_text("version: v1alpha1\nworker:\n  concurrency: [1, 2\n")
    r = inv("status", config=str(syntax))
    assert r.rc == 2 and f"{syntax}:" in one_line(r.err)

    typed = tmp_path / "typed.yaml"
    typed.write_text("worker:\n  concurrency: many\n")
    r = inv("status", config=str(typed))
    assert r.rc == 2 and f"{typed}:2:" in one_line(r.err)

    r = inv("status", config=str(tmp_path / "missing.yaml"))
    assert r.rc == 2 and "missing.yaml" in one_line(r.err)


def test_unreachable_database_and_redis(inv, tmp_path):
    # A port nobody listens on: immediate refusal, one line, exit 1.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"database:\n  dsn: postgresql://u:sekret@127.0.0.1:{port}/x\n"
                   f"redis:\n  endpoint: 127.0.0.1:{port}\n")
    r = inv("db", "status", config=str(cfg))
    assert r.rc == 1
    line = one_line(r.err)
    assert "cannot connect to database" in line and "sekret" not in line
    r = inv("status", config=str(cfg))
    assert r.rc == 1
    assert "sekret" not in r.out + r.err
    assert re.search(r"redis\s*: FAIL: cannot connect to redis", r.out)


@pytest.fixture
def silent_server():
    """Accepts TCP connections and never answers: a hung server."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    conns = []
    stop = threading.Event()

    def loop():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                pass

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join()
    for c in conns:
        c.close()
    srv.close()


def test_hung_servers_are_bounded(inv, tmp_path, silent_server):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"database:\n  dsn: postgresql://u@127.0.0.1:{silent_server}/x\n"
                   f"  connect_timeout: 1s\n"
                   f"redis:\n  endpoint: 127.0.0.1:{silent_server}\n  password: hunter2\n"
                   f"  connect_timeout: 500ms\n")
    t0 = time.monotonic()
    r = inv("db", "status", config=str(cfg))
    assert r.rc == 1 and time.monotonic() - t0 < 8
    assert "timeout" in one_line(r.err).lower()
    t0 = time.monotonic()
    r = inv("status", config=str(cfg))
    assert r.rc == 1 and time.monotonic() - t0 < 10
    assert "hunter2" not in r.out + r.err


def test_env_and_flag_overrides(db, make_config, inv, stack, tmp_path):
    # The config file points at a dead database; DATABASE_URI wins over it.
    dead = tmp_path / "dead.yaml"
    dead.write_text("database:\n  dsn: postgresql://nobody@127.0.0.1:1/none\n"
                    f"redis:\n  endpoint: 127.0.0.1:{stack.redis_port}\n")
    assert inv("db", "init", config=str(dead)).rc == 1
    assert inv("db", "init", config=str(dead), env={"DATABASE_URI": db.dsn}).rc == 0
    assert inv("db", "status", "--database-uri", db.dsn, config=str(dead)).rc == 0
    # INVENTORY_CONFIG with several files: the later one overrides.
    good = make_config()
    r = inv("status", env={"INVENTORY_CONFIG": f"{dead},{good}"})
    assert "database    : ok" in r.out, r.out + r.err
    # Without any configuration: defaults plus the environment.
    r = inv("db", "status", env={"DATABASE_URI": db.dsn})
    assert r.rc == 0 and "pending migration(s)" in r.out


def test_status_ok_after_migrate(db, make_config, inv):
    cfg = make_config()
    r = inv("status", config=cfg)
    assert r.rc == 1 and "db init" in r.out
    assert inv("db", "init", config=cfg).rc == 0
    assert inv("db", "migrate", config=cfg).rc == 0
    r = inv("status", config=cfg)
    assert r.rc == 0, r.out
    j = json.loads(inv("status", "-o", "json", config=cfg).out)
    assert j["ok"] is True and j["database"]["ok"] and j["redis"]["ok"]
    assert j["config"] == [cfg]
    assert re.match(r"\d+ applied, 0 pending", j["migrations"]["detail"])


def test_json_logs(db, make_config, inv, tmp_path):
    cfg = make_config()
    extra = tmp_path / "log.yaml"
    extra.write_text("logging:\n  format: json\n  level: debug\n")
    assert inv("db", "init", config=cfg).rc == 0
    r = inv("db", "migrate", "--config", str(extra), config=cfg)
    assert r.rc == 0, r.err
    events = [json.loads(l) for l in r.err.splitlines() if l.strip()]
    assert events and all(e["level"] == "debug" for e in events)
    assert any(e["msg"] == "applying migration" and e["group"] == 1 for e in events)
    assert db.dsn.split("@")[0].split(":")[-1] not in r.err  # no password
