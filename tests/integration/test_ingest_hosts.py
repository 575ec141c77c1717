"""Host ingress (docs/hosts.md): `inventory ingest start hosts` against a
real Redis Stream and PostgreSQL — the de-duplication rules one by one,
tenancy, validation and dead letters, events and payload statuses, replays,
a consumer killed mid-batch, several consumers at once."""
import base64
import json
import random
import signal
import time
import uuid

import psycopg2
import redis as redis_lib

from conftest import as_pg

from streams import assert_host_counts, ingest_through_redis_restart, metric, metrics, wait_until
from streams import drained as group_drained
from streams import publish as publish_to

STREAM, DLQ, GROUP = "platform.inventory.host-ingress", "platform.inventory.host-ingress-dlq", \
    "inventory"
EVENTS, STATUS = "platform.inventory.events", "platform.payload-status"


def publish(r, messages, stream=STREAM):
    publish_to(r, messages, stream)


def drained(r, n):
    return group_drained(r, STREAM, GROUP, n)


def identity(org, type_="User", cn=None):
    ident = {"org_id": org, "type": type_, "auth_type": "basic-auth"}
    if cn:
        ident["system"] = {"cn": cn}
    return base64.b64encode(json.dumps({"identity": ident}).encode()).decode()


def message(host, org="org1", request_id=None, **meta):
    md = {"request_id": request_id or uuid.uuid4().hex, "b64_identity": identity(org)}
    md.update(meta)
    return json.dumps({"operation": "add_host", "platform_metadata": md,
                       "data": dict({"org_id": org}, **host)})


def u():
    return str(uuid.uuid4())


def rows(db, org="org1"):
    return db.query("SELECT id::text, subscription_manager_id::text, insights_id::text, "
                    "provider_type, provider_id, fqdn, display_name FROM hbi_host "
                    "WHERE org_id = %s ORDER BY created_on, id", (org,))


def host_of(db, **facts):
    (k, v), = facts.items()
    got = db.query(f"SELECT id::text FROM hbi_host WHERE {k} = %s", (v,))
    assert len(got) == 1, (facts, got)
    return got[0][0]


# ---- de-duplication ----

def test_same_id_fact_updates_the_same_host(feed, db):
    smid = u()
    feed(message({"subscription_manager_id": smid, "fqdn": "a.example.com"}))
    feed(message({"subscription_manager_id": smid, "fqdn": "b.example.com"}))
    (hid, s, _, _, _, fqdn, _), = rows(db)
    assert s == smid and fqdn == "b.example.com"


def test_priority_order_smid_before_insights(feed, db):
    s1, i1, i2 = u(), u(), u()
    feed(message({"subscription_manager_id": s1, "insights_id": i1, "fqdn": "a"}),
         message({"insights_id": i2, "fqdn": "b"}))
    a, b = host_of(db, fqdn="a"), host_of(db, fqdn="b")
    # smid finds A, although insights_id would find B: smid wins
    feed(message({"subscription_manager_id": s1, "insights_id": i2, "display_name": "won"}))
    assert host_of(db, display_name="won") == a
    assert len(rows(db)) == 2 and b != a


def test_fallback_to_a_lower_id_fact(feed, db):
    s1, i1 = u(), u()
    feed(message({"subscription_manager_id": s1, "insights_id": i1, "fqdn": "a"}))
    a = host_of(db, fqdn="a")
    # an unknown smid finds nothing: insights_id decides
    s2 = u()
    feed(message({"subscription_manager_id": s2, "insights_id": i1, "fqdn": "a2"}))
    assert rows(db) == [(a, s2, i1, None, None, "a2", "a")]


def test_provider_pair_decides_first_and_is_immutable(feed, db):
    s1, s2 = u(), u()
    feed(message({"provider_type": "aws", "provider_id": "i-1", "subscription_manager_id": s1,
                  "fqdn": "d"}),
         message({"subscription_manager_id": s2, "fqdn": "e"}))
    d, e = host_of(db, fqdn="d"), host_of(db, fqdn="e")
    # the pair finds D although the smid would find E
    feed(message({"provider_type": "aws", "provider_id": "i-1", "subscription_manager_id": s2,
                  "display_name": "pair"}))
    assert host_of(db, display_name="pair") == d
    # a different pair with D's... now s2 smid: D carries another pair, E has none -> E
    feed(message({"provider_type": "aws", "provider_id": "i-2", "subscription_manager_id": s2,
                  "display_name": "e-got-pair"}))
    assert host_of(db, display_name="e-got-pair") == e
    assert db.query("SELECT provider_id FROM hbi_host WHERE id = %s", (e,)) == [("i-2",)]
    assert len(rows(db)) == 2


def test_a_different_provider_pair_makes_a_new_host(feed, db):
    s = u()
    feed(message({"provider_type": "aws", "provider_id": "i-1", "subscription_manager_id": s,
                  "fqdn": "one"}))
    feed(message({"provider_type": "azure", "provider_id": "vm-1", "subscription_manager_id": s,
                  "fqdn": "two"}))
    assert len(rows(db)) == 2
    # no pair sent: the smid finds the most recently updated of the two
    feed(message({"subscription_manager_id": s, "display_name": "latest"}))
    assert host_of(db, display_name="latest") == host_of(db, fqdn="two")


def test_values_compare_case_insensitively(feed, db):
    s, i = u(), u()
    feed(message({"subscription_manager_id": s.upper(), "fqdn": "Host.Example.COM"}))
    feed(message({"subscription_manager_id": s, "insights_id": i.upper()}))
    feed(message({"insights_id": i, "display_name": "same"}))
    (hid, smid, ins, _, _, fqdn, name), = rows(db)
    assert (smid, ins, name) == (s, i, "same")


def test_other_facts_never_decide(feed, db):
    ip = "10.0.0.5"
    common = {"fqdn": "same.example.com", "ip_addresses": [ip], "bios_uuid": u(),
              "mac_addresses": ["aa:bb:cc:dd:ee:ff"], "satellite_id": "1234567890"}
    feed(message(dict(common, subscription_manager_id=u())))
    feed(message(dict(common, subscription_manager_id=u())))
    assert len(rows(db)) == 2


def test_repeats_within_one_batch_are_matched_in_memory(hosts, redis_db, db):
    s, i = u(), u()
    publish(redis_db, [message({"subscription_manager_id": s, "insights_id": i, "fqdn": "x1"}),
                       message({"insights_id": i, "fqdn": "x2"}),
                       message({"subscription_manager_id": s, "display_name": "x3"})])
    hosts(batch_size=100)
    wait_until(lambda: drained(redis_db, 3))
    (hid, smid, ins, _, _, fqdn, name), = rows(db)
    assert (smid, ins, fqdn, name) == (s, i, "x2", "x3")


def test_facts_not_sent_are_kept_and_namespaces_merge(feed, db):
    s = u()
    feed(message({"subscription_manager_id": s, "fqdn": "f", "ip_addresses": ["10.1.1.1"],
                  "facts": [{"namespace": "c", "facts": {"z": 0}},
                            {"namespace": "a", "facts": {"x": 1}}],
                  "tags": [{"namespace": "ns", "key": "env", "value": "prod"}],
                  "system_profile": {"arch": "x86_64", "number_of_cpus": 2}}))
    feed(message({"subscription_manager_id": s,
                  "facts": [{"namespace": "c", "facts": {"w": 3}},
                            {"namespace": "b", "facts": {"y": 2}}],
                  "tags": [{"namespace": "other", "key": "k", "value": None}],
                  "system_profile": {"number_of_cpus": 4}}))
    (fqdn, ips, facts, tags, sp), = db.query(
        "SELECT fqdn, ip_addresses, facts, tags, system_profile FROM hbi_host")
    assert fqdn == "f" and ips == ["10.1.1.1"]
    # a sent namespace replaces the stored one; the list is sorted by namespace
    assert facts == [{"namespace": "a", "facts": {"x": 1}}, {"namespace": "b", "facts": {"y": 2}},
                     {"namespace": "c", "facts": {"w": 3}}]
    assert tags == {"ns": {"env": ["prod"]}, "other": {"k": [None]}}
    assert sp == {"arch": "x86_64", "number_of_cpus": 4}


def test_tenants_never_share_hosts(feed, db, redis_db):
    s = u()
    feed(message({"subscription_manager_id": s, "fqdn": "a"}, org="orgA"),
         message({"subscription_manager_id": s, "fqdn": "b"}, org="orgB"))
    assert [r[5] for r in rows(db, "orgA")] == ["a"]
    assert [r[5] for r in rows(db, "orgB")] == ["b"]
    events = [json.loads(e["data"]) for _, e in redis_db.xrange(EVENTS)]
    assert {(e["type"], e["host"]["org_id"], e["host"]["fqdn"]) for e in events} == {
        ("created", "orgA", "a"), ("created", "orgB", "b")}


# ---- events, statuses, replays ----

def test_events_and_payload_statuses(feed, db, redis_db):
    s = u()
    feed(message({"subscription_manager_id": s, "fqdn": "a"}, request_id="r1"))
    feed(message({"subscription_manager_id": s, "fqdn": "b"}, request_id="r2"))
    hid = host_of(db, fqdn="b")
    ev = redis_db.xrange(EVENTS)
    assert [(e["type"], e["id"], e["org_id"]) for _, e in ev] == [
        ("created", hid, "org1"), ("updated", hid, "org1")]
    last = json.loads(ev[-1][1]["data"])
    assert last["type"] == "updated" and last["host"]["id"] == hid
    assert last["host"]["fqdn"] == "b" and last["host"]["subscription_manager_id"] == s
    assert last["metadata"]["request_id"] == "r2"
    for k in ("stale_timestamp", "stale_warning_timestamp", "culled_timestamp", "updated"):
        assert k in last["host"]
    statuses = [(e["request_id"], e["status"]) for _, e in redis_db.xrange(STATUS)]
    assert statuses == [("r1", "received"), ("r1", "processing"), ("r1", "success"),
                        ("r2", "received"), ("r2", "processing"), ("r2", "success")]
    body = json.loads(redis_db.xrange(STATUS)[-1][1]["data"])
    assert body["service"] == "inventory" and body["org_id"] == "org1"


def test_replayed_messages_are_idempotent(feed, db, redis_db):
    batch = [message({"subscription_manager_id": u(), "insights_id": u(), "fqdn": f"h{i}",
                      "facts": [{"namespace": "n", "facts": {"i": i}}]}) for i in range(50)]
    feed(*batch)
    before = db.query("SELECT id, fqdn, facts, tags, created_on FROM hbi_host ORDER BY id")
    feed(*batch)
    feed(*reversed(batch))
    assert db.query("SELECT id, fqdn, facts, tags, created_on FROM hbi_host ORDER BY id") == before


# ---- validation ----

def bad(reason, host=None, org="org1", raw=None, **meta):
    if raw is not None:
        return reason, raw
    return reason, message(host, org=org, **meta)


def test_invalid_messages_are_dead_lettered_and_counted(hosts, redis_db, db):
    s = u()
    invalid = [
        bad("bad_json", raw="{nope"),
        bad("bad_json", raw="[1]"),
        bad("bad_operation", raw=json.dumps({"operation": "delete_host", "platform_metadata": {
            "b64_identity": identity("org1")}, "data": {"subscription_manager_id": s}})),
        bad("missing_field", raw=json.dumps({"operation": "add_host", "platform_metadata": {},
                                             "data": {"subscription_manager_id": s}})),
        bad("bad_identity", raw=json.dumps({"operation": "add_host", "platform_metadata": {
            "b64_identity": "!!!"}, "data": {"subscription_manager_id": s}})),
        bad("bad_identity", raw=json.dumps({"operation": "add_host", "platform_metadata": {
            "b64_identity": identity("x" * 37)}, "data": {"subscription_manager_id": s}})),
        bad("org_mismatch", raw=json.dumps({"operation": "add_host", "platform_metadata": {
            "b64_identity": identity("org1")}, "data": {"org_id": "org2",
                                                       "subscription_manager_id": s}})),
        bad("bad_canonical_fact", {"subscription_manager_id": "not-a-uuid"}),
        bad("bad_canonical_fact", {"insights_id": s[:-1]}),
        bad("bad_canonical_fact", {"subscription_manager_id": s, "satellite_id": "123"}),
        bad("bad_canonical_fact", {"subscription_manager_id": s, "ip_addresses": ["10.0.0.256"]}),
        bad("bad_canonical_fact", {"subscription_manager_id": s, "mac_addresses": ["zz:00"]}),
        bad("bad_canonical_fact", {"subscription_manager_id": s, "fqdn": ""}),
        bad("bad_canonical_fact", {"subscription_manager_id": s, "fqdn": "x" * 256}),
        bad("bad_provider", {"provider_id": "i-1"}),
        bad("bad_provider", {"subscription_manager_id": s, "provider_type": "aws"}),
        bad("bad_provider", {"provider_id": "i-1", "provider_type": "oracle"}),
        bad("no_id_fact", {"fqdn": "only.example.com", "bios_uuid": u()}),
        bad("oversized", {"subscription_manager_id": s, "display_name": "x",
                          "system_profile": {"pad": "x" * 70000}}),
    ]
    p = hosts()
    good = message({"subscription_manager_id": s, "fqdn": "good"})
    publish(redis_db, [m for _, m in invalid] + [good])
    n = len(invalid) + 1
    wait_until(lambda: drained(redis_db, n))
    assert [r[5] for r in rows(db)] == ["good"]
    # in stream order (two consumers may dead-letter their batches in either order)
    dead = sorted(redis_db.xrange(DLQ), key=lambda d: tuple(map(int, d[1]["id"].split("-"))))
    assert [(e["reason"], e["data"]) for _, e in dead] == invalid
    assert all(e["error"] for _, e in dead)
    ids = [e[0] for e in redis_db.xrange(STREAM)]
    assert [e["id"] for _, e in dead] == ids[:len(invalid)]
    wait_until(lambda: metric(metrics(p), f'inventory_ingest_consumed_total{{stream="{STREAM}"}}')
               == n, what="metrics")
    text = metrics(p)
    for reason in {r for r, _ in invalid}:
        want = sum(1 for r, _ in invalid if r == reason)
        assert metric(text, f'inventory_ingest_invalid_total{{stream="{STREAM}",'
                            f'reason="{reason}"}}') == want, reason
    assert metric(text, f'inventory_hosts_created_total{{stream="{STREAM}"}}') == 1
    # a request_id on an invalid message gets an error status with the reason
    errors = [e for _, e in redis_db.xrange(STATUS) if e["status"] == "error"]
    assert errors and all(json.loads(e["data"])["status_msg"] for e in errors)


# ---- crashes and sharing ----

def population(n_hosts, n_messages, seed, orgs=3):
    """Messages for n_hosts hosts: the first report of each, then re-reports
    through one of its ID facts (upper-cased half of the time)."""
    rnd = random.Random(seed)
    pool = [{"org": f"org{k % orgs}", "smid": str(uuid.UUID(int=rnd.getrandbits(128), version=4)),
             "iid": str(uuid.UUID(int=rnd.getrandbits(128), version=4))} for k in range(n_hosts)]
    out = [message({"subscription_manager_id": h["smid"], "insights_id": h["iid"],
                    "fqdn": f"h{k}.example.com"}, org=h["org"]) for k, h in enumerate(pool)]
    while len(out) < n_messages:
        k = rnd.randrange(n_hosts)
        h = pool[k]
        fact = rnd.choice(["subscription_manager_id", "insights_id"])
        v = h["smid"] if fact == "subscription_manager_id" else h["iid"]
        v = v.upper() if rnd.random() < 0.5 else v
        out.append(message({fact: v, "fqdn": f"h{k}-{len(out)}.example.com"}, org=h["org"]))
    return out


def assert_one_host_each(db, n_hosts):
    assert db.query("SELECT count(*) FROM hbi_host") == [(n_hosts,)]
    assert_host_counts(db)
    assert db.query("SELECT count(DISTINCT (org_id, subscription_manager_id)) FROM hbi_host") == \
        [(n_hosts,)]


def test_kill_mid_batch_loses_nothing_and_duplicates_nothing(hosts, redis_db, db):
    messages = population(3000, 12000, seed=3)
    publish(redis_db, messages)
    a = hosts(batch_size=200)
    wait_until(lambda: db.query("SELECT count(*) FROM hbi_host")[0][0] > 0, what="progress")
    a.stop(signal.SIGKILL)
    left = next(g for g in redis_db.xinfo_groups(STREAM) if g["name"] == GROUP)
    assert left["entries-read"] < len(messages) or left["pending"] > 0
    b = hosts(batch_size=200, claim_idle="1s")
    wait_until(lambda: drained(redis_db, len(messages)), timeout=180)
    assert_one_host_each(db, 3000)
    b.stop()


def test_several_consumers_share_the_stream(hosts, redis_db, db):
    messages = population(2000, 8000, seed=4)
    publish(redis_db, messages)
    ps = [hosts(batch_size=100, concurrency=2) for _ in range(2)]
    wait_until(lambda: drained(redis_db, len(messages)), timeout=180)
    assert_one_host_each(db, 2000)
    consumers = redis_db.xinfo_consumers(STREAM, GROUP)
    assert len(consumers) == 4 and sum(c["pending"] for c in consumers) == 0
    for p in ps:
        p.stop()


def test_consumers_of_a_process_keep_each_hosts_order(hosts, redis_db, db):
    """Two consumers; batches alternate between slow ones (messages near
    the size limit: long to parse) and quick ones that re-report the same
    hosts, so the consumer of a quick batch is ready first. Each host's
    writes and events still follow the stream: the last display_name
    wins, events in sequence."""
    ids = [(u(), u()) for _ in range(15)]
    pad = {"pad": "x" * 50000}
    messages = []
    for k in range(16):
        for h, (smid, iid) in enumerate(ids):
            fact = {"subscription_manager_id": smid, "insights_id": iid} if k == 0 else \
                {"insights_id": iid} if k % 2 else {"subscription_manager_id": smid}
            host = dict(fact, display_name=f"h{h}-{k:04d}")
            if k % 2 == 0:
                host["system_profile"] = pad
            messages.append(message(host))
    publish(redis_db, messages)
    p = hosts(batch_size=len(ids), concurrency=2)
    wait_until(lambda: drained(redis_db, len(messages)), timeout=180)
    got = dict(db.query("SELECT subscription_manager_id::text, display_name FROM hbi_host"))
    assert got == {smid: f"h{h}-0015" for h, (smid, _) in enumerate(ids)}
    names = {}
    for _, e in redis_db.xrange(EVENTS):
        names.setdefault(e["id"], []).append(json.loads(e["data"])["host"]["display_name"])
    assert len(names) == len(ids)
    for hid, seen in names.items():
        assert seen == sorted(seen) and len(seen) == 16, (hid, seen)
    p.stop()


def test_batches_split_around_shared_hosts_keep_each_hosts_order(hosts, redis_db, db):
    """Three consumers, batches of 12 in rounds of three, each batch one
    report of a host H and 11 new hosts. The first batch sends H's
    subscription_manager_id (re-reporting a stored H, or creating H with
    its insights_id too) and big new hosts (long to write), the second the
    same value (so it waits for the first), the third only H's insights_id
    (no value in common with the second: only H, or the first batch's
    values, connect them). The new hosts commit at once, the reports of H
    after the batches before theirs, in stream order (docs/hosts.md,
    Ingestion): H ends with the third report, its events in order."""
    pad = {"pad": "x" * 40000}
    size, rounds = 12, 12
    ids = [(u(), u()) for _ in range(rounds)]
    stored = ids[0::2]
    messages = [message({"subscription_manager_id": s, "insights_id": i, "display_name": "h-0"})
                for s, i in stored]
    messages += [message({"subscription_manager_id": u()}) for _ in range(size - len(stored))]
    for r, (smid, iid) in enumerate(ids):
        first = {"subscription_manager_id": smid}
        if r % 2:
            first["insights_id"] = iid
        for k, fact in enumerate((first, {"subscription_manager_id": smid}, {"insights_id": iid})):
            messages.append(message(dict(fact, display_name=f"h-{r:02d}-{k}")))
            extra = {"system_profile": pad} if k == 0 else {}
            messages += [message(dict({"subscription_manager_id": u()}, **extra))
                         for _ in range(size - 1)]
    publish(redis_db, messages)
    p = hosts(batch_size=size, concurrency=3)
    wait_until(lambda: drained(redis_db, len(messages)), timeout=180)
    got = dict(db.query("SELECT subscription_manager_id::text, display_name FROM hbi_host "
                        "WHERE display_name LIKE 'h-%'"))
    assert got == {smid: f"h-{r:02d}-2" for r, (smid, _) in enumerate(ids)}
    names = {}
    for _, e in redis_db.xrange(EVENTS):
        host = json.loads(e["data"])["host"]
        if host["display_name"].startswith("h-"):
            names.setdefault(host["subscription_manager_id"], []).append(host["display_name"])
    assert len(names) == rounds
    was_stored = {s for s, _ in stored}
    for smid, seen in names.items():
        assert seen == sorted(seen) and len(seen) == 3 + (smid in was_stored), seen
    deferred = metric(metrics(p), f'inventory_hosts_deferred_total{{stream="{STREAM}"}}')
    assert deferred and deferred > 0
    p.stop()


def test_a_message_postgres_refuses_is_dead_lettered_alone(hosts, redis_db, db):
    # a rule only the database knows: the batch is refused, then split
    db.query("ALTER TABLE hbi_host ADD CONSTRAINT no_poison CHECK (fqdn <> 'poison.example.com')")
    good = [message({"subscription_manager_id": u(), "fqdn": f"g{i}.example.com"})
            for i in range(4)]
    poison = message({"subscription_manager_id": u(), "fqdn": "poison.example.com"})
    batch = good[:2] + [poison] + good[2:]
    publish(redis_db, batch)
    p = hosts(batch_size=10)
    wait_until(lambda: drained(redis_db, len(batch)))
    assert sorted(r[5] for r in rows(db)) == [f"g{i}.example.com" for i in range(4)]
    (_, dead), = redis_db.xrange(DLQ)
    assert dead["reason"] == "rejected" and dead["data"] == poison and "23514" in dead["error"]
    wait_until(lambda: metric(metrics(p), f'inventory_ingest_invalid_total{{stream="{STREAM}",'
                                          f'reason="rejected"}}') == 1, what="metrics")
    statuses = [e["status"] for _, e in redis_db.xrange(STATUS)]
    assert statuses.count("success") == 4 and statuses.count("error") == 1


def test_a_deferred_message_postgres_refuses_is_dead_lettered_alone(hosts, redis_db, db):
    """The second batch re-reports a host the first (big, slow to write)
    creates, with a value only the database refuses: the rest of the
    batch commits at once, the re-report waits for the first batch and is
    then refused alone, and dead-lettered."""
    db.query("ALTER TABLE hbi_host ADD CONSTRAINT no_poison CHECK (fqdn <> 'poison.example.com')")
    size, smid, pad = 20, u(), {"pad": "x" * 40000}
    first = [message({"subscription_manager_id": smid, "fqdn": "h.example.com",
                      "system_profile": pad})]
    first += [message({"subscription_manager_id": u(), "system_profile": pad})
              for _ in range(size - 1)]
    poison = message({"subscription_manager_id": smid, "fqdn": "poison.example.com"})
    second = [poison] + [message({"subscription_manager_id": u()}) for _ in range(size - 1)]
    publish(redis_db, first + second)
    p = hosts(batch_size=size, concurrency=2)
    wait_until(lambda: drained(redis_db, 2 * size))
    assert db.query("SELECT count(*) FROM hbi_host")[0][0] == 2 * size - 1
    assert db.query("SELECT fqdn FROM hbi_host WHERE subscription_manager_id = %s",
                    (smid,)) == [("h.example.com",)]
    (_, dead), = redis_db.xrange(DLQ)
    assert dead["reason"] == "rejected" and dead["data"] == poison and "23514" in dead["error"]
    text = metrics(p)
    assert metric(text, f'inventory_hosts_deferred_total{{stream="{STREAM}"}}') == 1
    assert metric(text, f'inventory_ingest_invalid_total{{stream="{STREAM}",'
                        f'reason="rejected"}}') == 1
    p.stop()


def test_a_batch_retried_after_a_failure_is_not_overtaken(hosts, redis_db, db):
    """The first batch creates host H and fails once (a transient error, so
    it is retried after a pause); the second, read after it and slow to
    parse, re-reports H through its other ID fact. It must not create H a
    second time, nor write before the retry: the failed attempt's claims
    stay until the first batch is written (docs/hosts.md, Ingestion)."""
    size, smid, iid, pad = 10, u(), u(), {"pad": "x" * 400000}
    p = hosts(batch_size=size, concurrency=2, max_message_size=1 << 20)
    # both consumers connected and their statements prepared
    publish(redis_db, [message({"subscription_manager_id": u()}) for _ in range(2 * size)])
    wait_until(lambda: drained(redis_db, 2 * size))
    db.query("CREATE SEQUENCE fail_once")
    db.query("CREATE FUNCTION fail_once() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
             " IF nextval('fail_once') = 1 THEN"
             " RAISE EXCEPTION 'once' USING ERRCODE = '40001'; END IF; RETURN NULL; END $$")
    db.query("CREATE TRIGGER fail_once AFTER INSERT ON hbi_host FOR EACH STATEMENT"
             " EXECUTE FUNCTION fail_once()")
    first = [message({"subscription_manager_id": smid, "insights_id": iid,
                      "display_name": "h-1"})]
    first += [message({"subscription_manager_id": u()}) for _ in range(size - 1)]
    second = [message({"insights_id": iid, "display_name": "h-2", "system_profile": pad})]
    second += [message({"subscription_manager_id": u(), "system_profile": pad})
               for _ in range(size - 1)]
    publish(redis_db, first + second)
    wait_until(lambda: drained(redis_db, 4 * size))
    assert db.query("SELECT subscription_manager_id::text, display_name FROM hbi_host"
                    " WHERE insights_id = %s", (iid,)) == [(smid, "h-2")]
    assert db.query("SELECT count(*) FROM hbi_host")[0][0] == 4 * size - 1
    assert "batch not committed, retrying" in p.err
    p.stop()


def test_a_batch_that_failed_before_reading_its_hosts_is_not_overtaken(hosts, redis_db, db):
    """Batch A re-reports host H by its insights_id; its session is ended
    while it waits to lock the stored hosts, so it fails not knowing it
    reaches H. Batch B, read after it, reaches H by the subscription
    manager id A does not send. B must wait for A's retry rather than
    write H first and see A's older report overwrite it: the values A
    sends stay claimed, and H, which B finds, carries one of them
    (docs/hosts.md, Ingestion)."""
    smid, iid = u(), u()
    p = hosts(batch_size=1, concurrency=2)
    publish(redis_db, [message({"subscription_manager_id": smid, "insights_id": iid,
                                "display_name": "h-0"})])
    wait_until(lambda: drained(redis_db, 1))
    deferred = f'inventory_hosts_deferred_total{{stream="{STREAM}"}}'
    waiting = "SELECT pid FROM pg_locks WHERE NOT granted AND pid <> pg_backend_pid()"
    lock = db.stack.connect(db.name)
    try:
        with lock.cursor() as cur:
            # H's row locked: A waits for it after it prepared its statements
            cur.execute("SELECT id FROM hbi_host WHERE insights_id = %s FOR UPDATE", (iid,))
            publish(redis_db, [message({"insights_id": iid, "display_name": "h-1"})])
            wait_until(lambda: db.query(waiting), what="batch A waiting for host H")
            a = db.query(waiting)[0][0]
            db.query("SELECT pg_terminate_backend(%s)", (a,))
            publish(redis_db, [message({"subscription_manager_id": smid,
                                        "display_name": "h-2"})])
            # B deferred, or (were it not) waiting for H too, before A's
            # retry (which pauses 100 ms): let go
            deadline = time.monotonic() + 10
            while not (metric(metrics(p), deferred) or db.query(waiting)):
                assert time.monotonic() < deadline, "batch B neither deferred nor waiting"
                time.sleep(0.002)
        lock.rollback()
    finally:
        lock.close()
    wait_until(lambda: drained(redis_db, 3))
    assert db.query("SELECT subscription_manager_id::text, insights_id::text, display_name"
                    " FROM hbi_host") == [(smid, iid, "h-2")]
    assert metric(metrics(p), deferred) == 1
    assert "batch not committed, retrying" in p.err
    p.stop()


def test_redis_restart_during_ingestion(inv, inv_popen, make_config, db, durable_redis):
    """Redis (with its AOF) restarts while two consumers work: they
    reconnect; a batch written but not acked comes back and is written
    again (the same facts: no duplicate host), and every entry is acked
    in the end."""
    messages = population(3000, 12000, seed=11)
    p = ingest_through_redis_restart(inv, inv_popen, make_config, db, durable_redis, "hosts",
                                     STREAM, GROUP, messages, "hbi_host", batch_size=50,
                                     concurrency=2)
    assert_one_host_each(db, 3000)
    assert "redis connection restored" in p.err
    assert p.alive
    p.stop()


def test_postgres_restart_during_ingestion(inv, inv_popen, make_config, private_stack):
    d, env = private_stack
    pgbin = f"/usr/lib/postgresql/{(d / 'pg' / 'PG_VERSION').read_text().strip()}/bin"
    cfg = make_config(dsn=env["DATABASE_URI"], endpoint=env["REDIS_ENDPOINT"],
                      ingest={"hosts": {"metrics": {"address": "127.0.0.1:0"},
                                        "batch_size": 100}})
    for step in ("init", "migrate"):
        assert inv("db", step, config=cfg).rc == 0
    r = redis_lib.Redis(host="127.0.0.1", port=int(env["REDIS_ENDPOINT"].rsplit(":", 1)[1]),
                        decode_responses=True)
    messages = population(1500, 6000, seed=9)
    p = inv_popen("ingest", "start", "hosts", config=cfg)
    p.wait_for(r"ingest: consuming")
    publish(r, messages[:2000])
    assert as_pg(f"{pgbin}/pg_ctl", "-D", d / "pg", "-m", "fast", "-w", "stop").returncode == 0
    publish(r, messages[2000:])  # while the database is down
    time.sleep(1.5)
    g = next(g for g in r.xinfo_groups(STREAM) if g["name"] == GROUP)
    assert g["lag"] > 0 or g["pending"] > 0  # nothing acked without the database
    assert as_pg(f"{pgbin}/pg_ctl", "-D", d / "pg", "-l", d / "postgres.log", "-w",
                 "start").returncode == 0
    wait_until(lambda: drained(r, len(messages)), timeout=180, what="drain after restart")
    c = psycopg2.connect(env["DATABASE_URI"])
    with c.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT (org_id, subscription_manager_id)) "
                    "FROM hbi_host")
        assert cur.fetchone() == (1500, 1500)
    c.close()
    assert metric(metrics(p), f'inventory_ingest_db_errors_total{{stream="{STREAM}"}}') >= 1
