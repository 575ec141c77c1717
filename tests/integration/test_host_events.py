"""Host events (docs/hosts.md, Events): host_store writes the created and
updated events itself, from what was sent and the columns the update
returns. Each event's host must be what hbi_host_doc() makes of the same
row: the same keys and values, numbers and timestamps in the same text."""
import json
import uuid

from test_ingest_hosts import EVENTS, identity, u


def exact(text):
    """JSON with numbers kept as their text, so that 1.0, 1 and 1e0 differ."""
    return json.loads(text, parse_float=lambda s: ("real", s), parse_int=lambda s: ("int", s))


def raw(data, org="org1", ident=None, request_id=None):
    """An add_host message around data, a JSON text kept as written."""
    rid = json.dumps(request_id or uuid.uuid4().hex)
    return ('{"operation": "add_host", "platform_metadata": {"request_id": %s, '
            '"b64_identity": "%s"}, "data": %s}' % (rid, ident or identity(org), data))


def compare_with_doc(db, redis_db):
    """Every host's last event against hbi_host_doc() of its row."""
    docs = dict(db.query("SELECT h.id::text, hbi_host_doc(h, s.stale, s.warn, s.cull)::text "
                         "FROM hbi_host h, hbi_org_staleness(h.org_id) s"))
    last = {}
    for _, e in redis_db.xrange(EVENTS):
        last[e["id"]] = e
    assert set(last) == set(docs)
    for hid, doc in docs.items():
        e = last[hid]
        body = exact(e["data"])
        assert set(body) == {"host", "type", "timestamp", "metadata", "platform_metadata"}
        assert body["host"] == exact(doc), (e["data"], doc)
        assert body["type"] == e["type"] and e["org_id"] == body["host"]["org_id"]
        assert body["timestamp"] == body["host"]["updated"] == body["host"]["last_check_in"]
        assert body["metadata"] == body["platform_metadata"]
    return {hid: e["type"] for hid, e in last.items()}


def test_events_show_the_host_as_hbi_host_doc(feed, db, redis_db):
    db.query("INSERT INTO hbi_staleness (org_id, conventional_time_to_stale,"
             " conventional_time_to_stale_warning, conventional_time_to_delete)"
             " VALUES ('org2', 3600, 7200, 86400)")
    s1, i1, s3, i3, cn = u(), u(), u(), u(), u()
    numbers = '[1.5, 1e100, -0.0, 0.1, 1.5e-7, 12345678901234, -7, 2.50, {"deep": [true, null]}]'
    full = raw('{"subscription_manager_id": "%s", "insights_id": "%s", "fqdn": "a.example.com",'
               ' "display_name": "tab\\there \\u00e9 \\u2603 \\"q\\"", "ansible_host": "",'
               ' "ip_addresses": ["10.0.0.1", "2001:DB8::1"], "mac_addresses": ["AA:BB:CC:DD:EE:FF"],'
               ' "bios_uuid": "%s", "satellite_id": "1234567890", "reporter": "puptoo",'
               ' "provider_type": "AWS", "provider_id": "i-1",'
               ' "facts": [{"namespace": "zeta", "facts": {"x": 1}},'
               ' {"namespace": "Alpha", "facts": {"n": %s, "s": "\\u00e9\\n\\\\"}},'
               ' {"namespace": "beta", "facts": {}}, {"namespace": "Zed", "facts": {"k": "v"}}],'
               ' "tags": [{"namespace": "ns", "key": "env", "value": "prod"}, {"key": "k"}],'
               ' "system_profile": {"arch": "x86_64", "number_of_cpus": 4, "mem": 1.0,'
               ' "nested": {"a": [null, false, 1e-3]}},'
               ' "stale_timestamp": "2030-01-01T00:00:00Z"}' % (s1, i1, u(), numbers))
    minimal = raw('{"insights_id": "%s"}' % u())
    # repeats within one batch merge into one host (and one event)
    first = raw('{"subscription_manager_id": "%s", "facts": [{"namespace": "a",'
                ' "facts": {"v": 1}}], "reporter": "yupana"}' % s3)
    again = raw('{"subscription_manager_id": "%s", "insights_id": "%s", "facts": [{"namespace":'
                ' "b", "facts": {"w": 2.0}}], "tags": {"t": {"k": ["x", null]}},'
                ' "system_profile": {"cores": 2}}' % (s3, i3))
    system = raw('{"subscription_manager_id": "%s", "fqdn": "sys.example.com"}' % u(),
                 ident=identity("org1", "System", cn=cn))
    other_org = raw('{"subscription_manager_id": "%s", "display_name": "o2"}' % u(), org="org2")
    feed(full, minimal, first, again, system, other_org)
    assert set(compare_with_doc(db, redis_db).values()) == {"created"}
    assert db.query("SELECT count(*) FROM hbi_host") == [(5,)]

    # updates: namespaces merge with the stored ones, a second reporter
    feed(raw('{"subscription_manager_id": "%s", "fqdn": "b.example.com", "reporter": "yupana",'
             ' "facts": [{"namespace": "gamma", "facts": {"y": [2, 0.25]}}],'
             ' "system_profile": {"mem": 2}}' % s1),
         raw('{"insights_id": "%s", "display_name": "again", "ip_addresses": ["10.1.1.1"]}' % i3))
    types = compare_with_doc(db, redis_db)
    assert sorted(types.values()) == ["created"] * 3 + ["updated"] * 2
