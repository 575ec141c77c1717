"""`inventory db ...` against a real PostgreSQL: the operations guide's flows,
atomic failure, concurrent migrators, groups, lock/unlock, create."""
import json
import os
import re
import threading
from pathlib import Path

# The migrations compiled into the binary: those of the source tree.
EMBEDDED = sorted({p.name.split(".")[0] for p in
                   (Path(os.environ.get("INVENTORY_ROOT", ".")) / "migrations").glob("*.up.sql")})
GO_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,6})? \+0000 UTC$")


def table_rows(text):
    """Parses the guide's table layout into header + rows of cells."""
    lines = [l for l in text.splitlines() if l.strip()]
    assert re.fullmatch(r"-+", lines[1]), text
    split = lambda l: re.split(r"\s{2,}", l.strip())
    return split(lines[0]), [split(l) for l in lines[2:]]


def regclass(db, name):
    return db.query("SELECT to_regclass(%s) IS NOT NULL", (name,))[0][0]


def write_migration(d, name, up, down="SELECT 1;"):
    (d / f"{name}.up.sql").write_text(up)
    if down is not None:
        (d / f"{name}.down.sql").write_text(down)


def test_guide_flow(db, make_config, inv):
    cfg = make_config()
    r = inv("db", "status", config=cfg)
    assert r.rc == 1 and "db init" in r.err

    assert inv("db", "init", config=cfg).rc == 0
    assert inv("db", "init", config=cfg).rc == 0  # idempotent

    r = inv("db", "status", config=cfg)
    assert r.rc == 0
    assert len(EMBEDDED) > 3
    assert r.out.splitlines() == [f"pending migration(s): {len(EMBEDDED)}",
                                  "database version: none (no migrations applied)",
                                  "database is out-of-date"]

    r = inv("db", "pending", config=cfg)
    head, rows = table_rows(r.out)
    assert head == ["ID", "NAME", "COMMENT", "GROUP-ID", "MIGRATED-AT"]
    assert [f"{row[1]}_{row[2]}" for row in rows] == EMBEDDED
    assert all(row[0] == "N/A" and row[3] == "N/A" and row[4] == "N/A" for row in rows)

    r = inv("db", "migrate", config=cfg)
    assert r.rc == 0, r.err
    assert r.out.strip() == f"database migrated to group #1 ({', '.join(EMBEDDED)})"
    assert regclass(db, "aws_region") and regclass(db, "l_aws_region_to_az")

    r = inv("db", "applied", config=cfg)
    head, rows = table_rows(r.out)
    assert [f"{row[1]}_{row[2]}" for row in rows] == EMBEDDED[::-1]  # newest first
    assert all(row[3] == "1" and GO_TIME.match(row[4]) for row in rows), rows
    assert inv("db", "pending", config=cfg).out == ""

    r = inv("db", "status", config=cfg)
    assert r.out.splitlines()[0] == "pending migration(s): 0"
    assert r.out.splitlines()[1].startswith("database version: group #1 (")
    assert r.out.splitlines()[2] == "database is up-to-date"
    assert inv("db", "migrate", config=cfg).out.strip() == "database is up to date"

    r = inv("db", "rollback", config=cfg)
    assert r.rc == 0 and r.out.startswith("rolled back group #1 (")
    assert not regclass(db, "aws_region") and not regclass(db, "aws_az")
    assert db.query("SELECT count(*) FROM bun_migrations")[0][0] == 0
    assert inv("db", "rollback", config=cfg).out.strip() == \
        "there are no migration groups for rollback"

    assert inv("db", "lock", config=cfg).out.strip() == "migrations locked"
    r = inv("db", "migrate", config=cfg)
    assert r.rc == 1 and "locked" in r.err and len(r.err.strip().splitlines()) == 1
    assert not regclass(db, "aws_region")
    assert inv("db", "rollback", config=cfg).rc == 1
    assert inv("db", "unlock", config=cfg).out.strip() == "migrations unlocked"
    assert inv("db", "unlock", config=cfg).out.strip() == "migrations were not locked"
    assert inv("db", "migrate", config=cfg).rc == 0
    assert regclass(db, "aws_region")


def test_aliases_and_json(db, make_config, inv):
    cfg = make_config()
    assert inv("database", "i", config=cfg).rc == 0
    assert inv("db", "m", config=cfg).rc == 0
    r = inv("db", "a", "-o", "json", config=cfg)
    rows = json.loads(r.out)
    assert [f"{x['name']}_{x['comment']}" for x in rows] == EMBEDDED[::-1]
    assert all(x["group_id"] == 1 and isinstance(x["id"], int) for x in rows)
    assert json.loads(inv("db", "p", "-o", "json", config=cfg).out) == []
    r = inv("db", "a", "-o", "csv", config=cfg)
    assert r.out.splitlines()[0] == "id,name,comment,group_id,migrated_at"


def test_groups_and_rollback_order(db, make_config, inv, tmp_path):
    d = tmp_path / "mig"
    d.mkdir()
    cfg = make_config(migration_dir=str(d))
    write_migration(d, "20240101000000_a", "CREATE TABLE a (x int);", "DROP TABLE a;")
    assert inv("db", "init", config=cfg).rc == 0
    assert "group #1 (20240101000000_a)" in inv("db", "migrate", config=cfg).out
    write_migration(d, "20240102000000_b", "CREATE TABLE b (x int REFERENCES a(x));",
                    "DROP TABLE b;")
    write_migration(d, "20240103000000_c", "ALTER TABLE a ADD PRIMARY KEY (x);",
                    "ALTER TABLE a DROP CONSTRAINT a_pkey;")
    # b needs a's primary key from c: applying in name order fails atomically.
    r = inv("db", "migrate", config=cfg)
    assert r.rc == 1
    assert "20240102000000_b.up.sql" in r.err and "unique constraint" in r.err
    assert not regclass(db, "b")
    write_migration(d, "20240102000000_b", "CREATE TABLE b (x int);", "DROP TABLE b;")
    r = inv("db", "migrate", config=cfg)
    assert r.out.strip() == \
        "database migrated to group #2 (20240102000000_b, 20240103000000_c)"
    r = inv("db", "rollback", config=cfg)
    assert r.out.strip() == "rolled back group #2 (20240102000000_b, 20240103000000_c)"
    assert regclass(db, "a") and not regclass(db, "b")
    assert db.query("SELECT name, group_id FROM bun_migrations") == [("20240101000000", 1)]


def test_failing_migration_changes_nothing(db, make_config, inv, tmp_path):
    d = tmp_path / "mig"
    d.mkdir()
    cfg = make_config(migration_dir=str(d))
    write_migration(d, "20240101000000_good", "CREATE TABLE good (x int);")
    write_migration(d, "20240102000000_bad", "CREATE TABLE bad (x int);\nSELEC oops;")
    assert inv("db", "init", config=cfg).rc == 0
    r = inv("db", "migrate", config=cfg)
    assert r.rc == 1
    assert "20240102000000_bad.up.sql" in r.err
    assert 'syntax error at or near "SELEC"' in r.err
    assert len(r.err.strip().splitlines()) == 1
    assert not regclass(db, "good") and not regclass(db, "bad")
    assert db.query("SELECT count(*) FROM bun_migrations")[0][0] == 0
    assert "pending migration(s): 2" in inv("db", "status", config=cfg).out


def test_transaction_control_refused(db, make_config, inv, tmp_path):
    d = tmp_path / "mig"
    d.mkdir()
    cfg = make_config(migration_dir=str(d))
    write_migration(d, "20240101000000_sneaky", "CREATE TABLE s (x int); COMMIT;")
    assert inv("db", "init", config=cfg).rc == 0
    r = inv("db", "migrate", config=cfg)
    assert r.rc == 1 and "transaction control" in r.err


def test_rollback_without_down_file(db, make_config, inv, tmp_path):
    d = tmp_path / "mig"
    d.mkdir()
    cfg = make_config(migration_dir=str(d))
    write_migration(d, "20240101000000_oneway", "CREATE TABLE o (x int);", down=None)
    assert inv("db", "init", config=cfg).rc == 0
    assert inv("db", "migrate", config=cfg).rc == 0
    r = inv("db", "rollback", config=cfg)
    assert r.rc == 1 and "no down migration" in r.err
    assert regclass(db, "o")


def test_concurrent_migrate_applies_once(db, make_config, inv, tmp_path):
    d = tmp_path / "mig"
    d.mkdir()
    cfg = make_config(migration_dir=str(d))
    write_migration(d, "20240101000000_slow",
                    "CREATE TABLE counter (n int); INSERT INTO counter VALUES (1);"
                    " SELECT pg_sleep(1);")
    assert inv("db", "init", config=cfg).rc == 0
    results = [None] * 4
    barrier = threading.Barrier(len(results))

    def run(i):
        barrier.wait()
        results[i] = inv("db", "migrate", config=cfg)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(results))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.rc == 0 for r in results), [r.err for r in results]
    outs = sorted(r.out.strip() for r in results)
    assert outs.count("database migrated to group #1 (20240101000000_slow)") == 1
    assert outs.count("database is up to date") == 3
    assert db.query("SELECT count(*) FROM counter")[0][0] == 1
    assert db.query("SELECT count(*) FROM bun_migrations")[0][0] == 1


def test_create(db, make_config, inv, tmp_path):
    d = tmp_path / "newmig"
    cfg = make_config(migration_dir=str(d))
    r = inv("db", "create", "add", "Widget", "table", config=cfg)
    assert r.rc == 0, r.err
    up, down = r.out.split()
    assert re.search(r"/\d{14}_add_widget_table\.up\.sql$", up)
    assert re.search(r"/\d{14}_add_widget_table\.down\.sql$", down)
    assert inv("db", "create", config=cfg).rc == 2
    assert inv("db", "init", config=cfg).rc == 0
    r = inv("db", "pending", config=cfg)
    assert "add_widget_table" in r.out
    assert inv("db", "migrate", config=cfg).rc == 0  # comment-only files are valid


def test_bad_migration_dir(db, make_config, inv, tmp_path):
    cfg = make_config(migration_dir=str(tmp_path / "missing"))
    assert inv("db", "init", config=cfg).rc == 0
    r = inv("db", "migrate", config=cfg)
    assert r.rc == 1 and "missing" in r.err
    d = tmp_path / "odd"
    d.mkdir()
    (d / "notamigration.sql").write_text("SELECT 1;")
    r = inv("db", "status", config=make_config(migration_dir=str(d)))
    assert r.rc == 1 and "notamigration.sql" in r.err
