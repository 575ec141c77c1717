"""The host simulator, `inventory ingest simulate hosts` (docs/ingest.md,
"Host simulator"): message shape and validity checked in Python against
the rules of docs/ingest.md; re-reports checked against an independent
model of HBI's de-duplication (each matches exactly the host it re-reports,
new hosts match none); every invalid kind, each breaking only its rule;
the summary's ground truth (kinds, invalid rules, hosts per org) against
the stream; fractions, the pool limit, --seed determinism, signals and
option errors."""
import base64
import binascii
import collections
import ipaddress
import json
import re
import signal
import time

import pytest

from streams import entries as stream_entries

STREAM = "platform.inventory.host-ingress"
DEFAULT_MAX = 64 << 10
SUMMARY = re.compile(r"^published (\d+) messages \(new_hosts (\d+), rereports (\d+), "
                     r"invalid (\d+)\) in ([0-9.]+) s$", re.M)
KINDS = ("json", "not_object", "operation", "identity_missing", "identity_base64",
         "identity_org_id", "identity_org_id_length", "identity_type", "identity_cn",
         "org_id_mismatch", "insights_id", "subscription_manager_id", "bios_uuid",
         "satellite_id", "ip_addresses", "mac_addresses", "fqdn", "provider_pair",
         "provider_type", "no_id_fact", "oversized")
DATA_KEYS = ("org_id", "display_name", "ansible_host", "fqdn", "ip_addresses", "mac_addresses",
             "bios_uuid", "satellite_id", "subscription_manager_id", "insights_id", "provider_id",
             "provider_type", "reporter", "facts", "tags", "system_profile")
REQUIRED = {"org_id", "display_name", "fqdn", "ip_addresses", "reporter", "system_profile"}
PROVIDER_IDS = {
    "aws": r"i-0[0-9a-f]{16}",
    "azure": r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
    "gcp": r"[1-9][0-9]{18}",
    "ibm": r"02[0-9a-f]{2}_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
    "alibaba": r"i-[0-9a-z]{20}",
}
REPORTERS = {"puptoo", "rhsm-conduit", "cloud-connector", "yupana"}
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
V4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
H = "[0-9a-fA-F]"
MAC = re.compile(rf"{H}{{2}}([:-]){H}{{2}}(?:\1{H}{{2}}){{4}}|{H}{{4}}\.{H}{{4}}\.{H}{{4}}|{H}{{12}}"
                 rf"|{H}{{2}}([:-]){H}{{2}}(?:\2{H}{{2}}){{18}}|{H}{{40}}")
ID_FACTS = ("subscription_manager_id", "insights_id")


def hosts_cfg(make_config, **hosts):
    """A config with ingest.hosts.<key>: value lines."""
    extra = "ingest:\n  hosts:\n" + "".join(f"    {k}: {v}\n" for k, v in hosts.items())
    return make_config(extra=extra) if hosts else make_config()


def summary(r):
    """{n, new_hosts, rereports, invalid, seconds, rules: {kind: n},
    orgs: {org_id: hosts}} from the three summary lines."""
    m = SUMMARY.search(r.out)
    assert m, r
    n, new, rere, bad = (int(x) for x in m.groups()[:4])
    assert n == new + rere + bad, r
    lines = r.out.splitlines()
    assert len(lines) == 3 and lines[1].startswith("invalid: "), r
    assert lines[2].startswith("hosts per org: "), r
    pairs = lambda text: [(k, int(v)) for k, v in (x.rsplit(" ", 1) for x in text.split(", "))]
    rules = pairs(lines[1][len("invalid: "):])
    assert [k for k, _ in rules] == list(KINDS), r
    orgs = pairs(lines[2][len("hosts per org: "):])
    assert sum(v for _, v in rules) == bad and sum(v for _, v in orgs) == new, r
    return {"n": n, "new_hosts": new, "rereports": rere, "invalid": bad,
            "seconds": float(m.group(5)), "rules": dict(rules), "orgs": dict(orgs)}


def simulate(inv, cfg, *args, timeout=120):
    r = inv("ingest", "simulate", "hosts", *args, config=cfg, timeout=timeout)
    assert r.rc == 0, r
    return summary(r)


def entries(redis_db, stream=STREAM):
    """The data of every entry of the stream, in order (each entry has only
    a data field)."""
    out = []
    for _, f in stream_entries(redis_db, stream):
        assert list(f) == ["data"], f
        out.append(f["data"])
    return out


# --- validation, as docs/ingest.md says ---------------------------------------------

def identity_rules(meta):
    """(broken rules, the identity's org_id or None when it is not sound)."""
    b64 = meta.get("b64_identity")
    if b64 is None:
        return {"identity_missing"}, None
    try:
        idn = json.loads(binascii.a2b_base64(b64.encode("ascii"), strict_mode=True))["identity"]
    except (binascii.Error, ValueError, UnicodeEncodeError, KeyError, TypeError):
        return {"identity_base64"}, None
    bad, org = set(), idn.get("org_id")
    if not isinstance(org, str) or not org:
        bad.add("identity_org_id")
    elif len(org) > 36:
        bad.add("identity_org_id_length")
    t = idn.get("type")
    if t not in ("User", "System", "ServiceAccount"):
        bad.add("identity_type")
    elif t == "System" and not (idn.get("system") or {}).get("cn"):
        bad.add("identity_cn")
    return bad, (None if bad & {"identity_org_id", "identity_org_id_length"} else org)


def ip_ok(x):
    try:
        ipaddress.ip_address(x)
        return "%" not in x
    except ValueError:
        return False


def fact_rules(d):
    bad = set()
    for f in ("insights_id", "subscription_manager_id", "bios_uuid"):
        if f in d and not UUID.fullmatch(d[f]):
            bad.add(f)
    sat = d.get("satellite_id")
    if sat is not None and not (UUID.fullmatch(sat) or re.fullmatch(r"[0-9]{10}", sat)):
        bad.add("satellite_id")
    if "ip_addresses" in d and not all(ip_ok(x) for x in d["ip_addresses"]):
        bad.add("ip_addresses")
    if "mac_addresses" in d and not all(MAC.fullmatch(x) for x in d["mac_addresses"]):
        bad.add("mac_addresses")
    if "fqdn" in d and not 1 <= len(d["fqdn"]) <= 255:
        bad.add("fqdn")
    if ("provider_id" in d) != ("provider_type" in d):
        bad.add("provider_pair")
    elif "provider_type" in d and d["provider_type"] not in PROVIDER_IDS:
        bad.add("provider_type")
    if not any(k in d for k in ("provider_id",) + ID_FACTS):
        bad.add("no_id_fact")
    return bad


def broken(text, max_size=DEFAULT_MAX):
    """Every rule the message breaks. A part is only looked into when what
    holds it is sound (the data when the text is a JSON object; the org
    check when the identity's org_id is), so a message breaking one rule
    yields exactly that rule."""
    bad = {"oversized"} if len(text.encode()) > max_size else set()
    try:
        m = json.loads(text)
    except ValueError:
        return bad | {"json"}
    if not isinstance(m, dict):
        return bad | {"not_object"}
    if m.get("operation") != "add_host":
        bad.add("operation")
    ib, org = identity_rules(m.get("platform_metadata") or {})
    d = m["data"]
    if org is not None and d.get("org_id") != org:
        bad.add("org_id_mismatch")
    return bad | ib | fact_rules(d)


# --- the shape of valid messages -----------------------------------------------------

def check_shape(m):
    """A valid message is shaped as documented; returns (org_id, data)."""
    assert list(m) == ["operation", "platform_metadata", "data"], m
    meta = m["platform_metadata"]
    assert list(meta) == ["request_id", "b64_identity"]
    assert re.fullmatch(r"[0-9a-f]{32}", meta["request_id"])
    idn = json.loads(base64.b64decode(meta["b64_identity"], validate=True))
    org = idn["identity"]["org_id"]
    assert idn == {"identity": {"org_id": org, "type": "User", "auth_type": "basic-auth",
                                "user": {"username": f"admin-{org}"}}}
    assert re.fullmatch(r"[1-9][0-9]{6,7}", org)
    d = m["data"]
    assert list(d) == [k for k in DATA_KEYS if k in d], d
    assert REQUIRED <= set(d) and d["org_id"] == org
    for k in ("ip_addresses", "mac_addresses"):
        assert k not in d or (d[k] and all(isinstance(x, str) for x in d[k]))
    if "provider_type" in d:
        assert re.fullmatch(PROVIDER_IDS[d["provider_type"]], d["provider_id"]), d
    assert d["reporter"] in REPORTERS
    assert 1 <= len(d["display_name"]) <= 200
    for f in d.get("facts", []):
        assert list(f) == ["namespace", "facts"] and f["facts"] and isinstance(f["facts"], dict)
    tags = d.get("tags", [])
    assert all(list(t) == ["namespace", "key", "value"] for t in tags)
    assert len({(t["namespace"], t["key"]) for t in tags}) == len(tags)
    sp = d["system_profile"]
    assert sp["arch"] in ("x86_64", "aarch64")
    assert re.fullmatch(r"\d+\.\d+", sp["os_release"])
    assert sp["os_release"] == "%d.%d" % (sp["operating_system"]["major"],
                                          sp["operating_system"]["minor"])
    assert sp["number_of_cpus"] == sp["number_of_sockets"] * sp["cores_per_socket"] >= 1
    return org, d


# --- de-duplication, as HBI does it -----------------------------------------------

def id_facts(d):
    """The ID facts a host message sends, lower-cased (matching ignores case)."""
    f = {k: d[k].lower() for k in ID_FACTS if k in d}
    if "provider_id" in d:
        f["pair"] = (d["provider_type"].lower(), d["provider_id"].lower())
    return f


class Inventory:
    """The hosts a correct consumer holds, with HBI's matching: a sent
    provider pair finds the host with that pair; otherwise (or when none
    has it) the first of subscription_manager_id, insights_id that finds a
    host wins, where a host is found by a value when it has that value and
    no provider pair other than the one sent. Other facts never decide."""

    def __init__(self):
        self.hosts = []  # [{"org", "pair", "subscription_manager_id", "insights_id"}]
        self.by = collections.defaultdict(list)  # (org, fact, value) -> host indexes
        self.values = collections.defaultdict(set)  # (fact, value) -> hosts in any org

    def match(self, org, f):
        pair = f.get("pair")
        if pair and self.by.get((org, "pair", pair)):
            (h,) = self.by[(org, "pair", pair)]
            return h
        for k in ID_FACTS:
            if k not in f:
                continue
            found = [h for h in self.by.get((org, k, f[k]), [])
                     if pair is None or self.hosts[h]["pair"] in (None, pair)]
            assert len(found) <= 1, ("ambiguous", org, f)
            if found:
                return found[0]
        return None

    def owners(self, f):
        """Hosts, in any org, holding one of the values of f."""
        return {h for k, v in f.items() for h in self.values.get((k, v), ())}

    def put(self, h, org, f):
        if h is None:
            h = len(self.hosts)
            self.hosts.append({"org": org, "pair": None, "subscription_manager_id": None,
                               "insights_id": None})
        for k, v in f.items():
            if self.hosts[h][k] is None:
                self.hosts[h][k] = v
                self.by[(org, k, v)].append(h)
                self.values[(k, v)].add(h)
        return h


def signature(d):
    """What a re-report never changes: the host's name stem (a new fqdn is
    `<stem>-<3 hex>.<domain>`), architecture, memory and major release.
    With the ID facts it tells which host a message is about, so a message
    matching another host than its own would show."""
    m = re.fullmatch(r"(.+?-[0-9]{4,})(?:-[0-9a-f]{3})?\.(.+)", d["fqdn"])
    assert m, d["fqdn"]
    sp = d["system_profile"]
    return m.groups() + (sp["arch"], sp["system_memory_bytes"], sp["operating_system"]["major"])


def replay(texts, max_size=DEFAULT_MAX):
    """Classifies the stream independently of the simulator and checks every
    re-report against the model. Returns (kinds, rules, per-org new hosts,
    stats of how re-reports vary)."""
    inv = Inventory()
    kinds, rules, per_org, var = (collections.Counter() for _ in range(4))
    last, sigs = {}, {}  # host -> its previous data, its signature
    fqdns = collections.defaultdict(set)  # (org, fqdn) seen on a created host
    bios = set()
    for text in texts:
        bad = broken(text, max_size)
        if bad:
            assert len(bad) == 1, (bad, text[:300])
            kinds["invalid"] += 1
            rules[bad.pop()] += 1
            continue
        org, d = check_shape(json.loads(text))
        f = id_facts(d)
        h = inv.match(org, f)
        # Whoever else holds one of these values: none but the match.
        assert inv.owners(f) <= ({h} if h is not None else set()), (f, h)
        if h is None:
            kinds["new_hosts"] += 1
            per_org[org] += 1
            assert all(d[k] == d[k].lower() for k in ID_FACTS if k in d)
            assert "mac_addresses" in d and "bios_uuid" in d and "facts" in d
            var["reused_fqdn"] += d["fqdn"] in fqdns[org]
            var["cloned_bios"] += d["bios_uuid"] in bios
            fqdns[org].add(d["fqdn"])
            bios.add(d["bios_uuid"])
        else:
            kinds["rereports"] += 1
            assert signature(d) == sigs[h], (d, sigs[h])
            held = inv.hosts[h]
            # A subset of the host's own ID facts: same value, or one it did not have yet.
            assert all(held[k] in (None, v) for k, v in f.items()), (held, f)
            variations(var, f, held, d, last[h])
        h = inv.put(h, org, f)
        last[h] = d
        sigs.setdefault(h, signature(d))
    return kinds, rules, per_org, var


def variations(var, f, held, d, prev):
    var["ids:" + "+".join(sorted(k.split("_")[0] for k in f))] += 1
    var["adds_id_fact"] += any(held[k] is None for k in f)
    var["upper_case"] += any(d[k] != d[k].lower() for k in ID_FACTS if k in d)
    var["without_pair"] += held["pair"] is not None and "pair" not in f
    var["new_fqdn"] += d["fqdn"] != prev["fqdn"]
    var["new_ips"] += d["ip_addresses"] != prev["ip_addresses"]
    var["new_display_name"] += d["display_name"] != prev["display_name"]
    var["new_profile"] += d["system_profile"] != prev["system_profile"]
    var["new_tags"] += d.get("tags") != prev.get("tags")
    for k in ("mac_addresses", "bios_uuid", "facts", "tags"):
        var["no_" + k] += k not in d


# --- tests -------------------------------------------------------------------------

def test_valid_messages(inv, make_config, redis_db):
    """New hosts and re-reports only: every message valid and shaped as
    documented, on ingest.hosts.stream; realistic spreads of providers,
    reporters, satellites, addresses."""
    cfg = hosts_cfg(make_config, stream="hosts-in")
    s = simulate(inv, cfg, "--rate", "0", "--count", "3000", "--orgs", "7", "--hosts", "5000",
                 "--rereports", "0.3", "--seed", "5")
    assert s["n"] == 3000 and s["invalid"] == 0
    assert redis_db.xlen(STREAM) == 0
    texts = entries(redis_db, "hosts-in")
    assert len(texts) == 3000
    seen = collections.Counter()
    orgs = set()
    for text in texts:
        assert broken(text) == set(), text
        org, d = check_shape(json.loads(text))
        orgs.add(org)
        seen["provider:" + d.get("provider_type", "none")] += 1
        seen["reporter:" + d["reporter"]] += 1
        sat = d.get("satellite_id", "")
        seen["satellite:" + ("uuid" if UUID.fullmatch(sat) else "digits" if sat else "none")] += 1
        seen["ipv6"] += any(":" in ip for ip in d["ip_addresses"])
        seen["ansible_host"] += "ansible_host" in d
        seen["two_macs"] += len(d.get("mac_addresses", [])) == 2
        seen["aarch64"] += d["system_profile"]["arch"] == "aarch64"
        for f in d.get("facts", []):
            seen["ns:" + f["namespace"]] += 1
    assert orgs == set(s["orgs"]) and len(orgs) == 7
    for p in PROVIDER_IDS:
        assert seen["provider:" + p] > 0, seen
    for r in REPORTERS:
        assert seen["reporter:" + r] > 0, seen
    for k in ("satellite:uuid", "satellite:digits", "ipv6", "ansible_host", "two_macs",
              "aarch64", "ns:rhsm", "ns:satellite", "ns:insights", "ns:cloud"):
        assert seen[k] > 0, (k, seen)
    # About 40% of hosts are in a cloud (some of their messages leave the pair out).
    assert 0.15 < 1 - seen["provider:none"] / 3000 < 0.45, seen


def test_rereports_match_their_host(inv, make_config, redis_db):
    """An independent model of the de-duplication rules replays the stream:
    each new-host message matches no earlier host, each re-report exactly
    one, through ID facts of that host alone; the counts by kind and the
    hosts per org are the summary's. Re-reports vary as documented."""
    s = simulate(inv, make_config(), "--rate", "0", "--count", "6000", "--orgs", "5",
                 "--rereports", "0.4", "--invalid", "0.05", "--seed", "9")
    kinds, rules, per_org, var = replay(entries(redis_db))
    assert kinds == {"new_hosts": s["new_hosts"], "rereports": s["rereports"],
                     "invalid": s["invalid"]}
    assert dict(rules) == {k: v for k, v in s["rules"].items() if v}
    assert per_org == s["orgs"]
    for ids in ("pair", "subscription", "insights", "pair+subscription", "insights+pair",
                "insights+subscription", "insights+pair+subscription"):
        assert var["ids:" + ids] > 20, (ids, var)
    for k in ("adds_id_fact", "upper_case", "without_pair", "new_fqdn", "new_ips",
              "new_display_name", "new_profile", "new_tags", "no_mac_addresses", "no_bios_uuid",
              "no_facts", "no_tags", "reused_fqdn", "cloned_bios"):
        assert var[k] > 0, (k, var)
    assert var["new_fqdn"] > 0.3 * s["rereports"]


def test_fractions(inv, make_config, redis_db):
    s = simulate(inv, make_config(), "--rate", "0", "--count", "8000", "--orgs", "13",
                 "--rereports", "0.2", "--invalid", "0.1", "--seed", "3")
    for kind, p in (("rereports", 0.2), ("invalid", 0.1), ("new_hosts", 0.7)):
        assert abs(s[kind] - p * 8000) < 0.03 * 8000, (kind, s)
    assert max(s["rules"].values()) - min(s["rules"].values()) <= 1  # each rule in turn
    assert max(s["orgs"].values()) - min(s["orgs"].values()) <= 1  # spread evenly
    assert len(s["orgs"]) == 13
    assert len(entries(redis_db)) == 8000


def test_pool_limit(inv, make_config, redis_db):
    """Once every host of --hosts was sent, new-host draws re-report."""
    s = simulate(inv, make_config(), "--rate", "0", "--count", "400", "--orgs", "4", "--hosts",
                 "40", "--seed", "2")
    assert (s["new_hosts"], s["rereports"]) == (40, 360)
    assert set(s["orgs"].values()) == {10}
    kinds, _, per_org, _ = replay(entries(redis_db))
    assert kinds == {"new_hosts": 40, "rereports": 360} and per_org == s["orgs"]


def test_invalid_kinds(inv, make_config, redis_db):
    """--invalid 1: one message per rule in turn, each breaking that rule
    alone; the oversized one exceeds ingest.hosts.max_message_size and is
    otherwise valid; no kind's variants repeat too soon."""
    cfg = hosts_cfg(make_config, max_message_size=8192)
    n = len(KINDS) * 4
    s = simulate(inv, cfg, "--rate", "0", "--count", str(n), "--invalid", "1", "--seed", "11")
    assert s["invalid"] == n and s["rules"] == {k: 4 for k in KINDS}
    assert sum(s["orgs"].values()) == 0
    texts = entries(redis_db)
    assert [broken(t, 8192) for t in texts] == [{k} for k in KINDS] * 4
    by_kind = collections.defaultdict(list)
    for i, t in enumerate(texts):
        by_kind[KINDS[i % len(KINDS)]].append(t)
    for k, ts in by_kind.items():
        assert len(set(ts)) == 4, k  # variants differ
    for t in by_kind["oversized"]:
        assert 8192 < len(t.encode()) < 2 * 8192 and broken(t, 1 << 30) == set()
    ops = {json.loads(t).get("operation") for t in by_kind["operation"]}
    assert None in ops and len(ops) == 4


def test_seed_determinism(inv, make_config, redis_db):
    cfg = make_config()
    args = ["--rate", "0", "--count", "2000", "--orgs", "3", "--hosts", "800", "--rereports",
            "0.3", "--invalid", "0.05"]
    a = simulate(inv, cfg, *args, "--seed", "42", "--stream", "a")
    b = simulate(inv, cfg, *args, "--seed", "42", "--stream", "b")
    c = simulate(inv, cfg, *args, "--seed", "43", "--stream", "c")
    da, db_, dc = (entries(redis_db, x) for x in "abc")
    assert len(da) == 2000 and da == db_
    assert {k: a[k] for k in a if k != "seconds"} == {k: b[k] for k in b if k != "seconds"}
    assert dc != da and c["n"] == 2000 and set(c["orgs"]) != set(a["orgs"])
    # The same seed at a rate and in a shorter run: a prefix.
    simulate(inv, cfg, *args[2:], "--rate", "2000", "--count", "500", "--seed", "42",
             "--stream", "d")
    assert entries(redis_db, "d") == da[:500]


def test_until_signal(inv_popen, make_config, redis_db):
    """Without --count: runs at --rate until SIGTERM/SIGINT, then prints the
    summary (what Redis took) and exits 0."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        redis_db.delete(STREAM)
        t0 = time.monotonic()
        p = inv_popen("ingest", "simulate", "hosts", "--rate", "500", "--invalid", "0.1",
                      config=make_config())
        deadline = time.monotonic() + 15
        while redis_db.xlen(STREAM) < 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert time.monotonic() - t0 > 0.3  # paced, not all at once
        p.send_signal(sig)
        r = p.wait(timeout=15)
        assert r.rc == 0, r
        s = summary(r)
        assert s["n"] >= 200 and s["n"] == redis_db.xlen(STREAM)
        assert "seed=" in r.err


@pytest.mark.parametrize("args, words", [
    (["--rereports", "1.5"], "--rereports"),
    (["--rereports", "x"], "--rereports"),
    (["--invalid", "-0.1"], "--invalid"),
    (["--rereports", "0.7", "--invalid", "0.4"], "add up to"),
    (["--orgs", "0"], "--orgs"),
    (["--orgs", "10001"], "--orgs"),
    (["--hosts", "0"], "--hosts"),
    (["--hosts", "10000001"], "--hosts"),
    (["--keys", "10"], "--keys is for scans"),
    (["--duplicates", "0.1"], "--duplicates is for scans"),
    (["--stream", "bad name"], "--stream"),
    (["--rate", "-1"], "--rate"),
])
def test_bad_options(inv, make_config, redis_db, args, words):
    r = inv("ingest", "simulate", "hosts", "--count", "10", *args, config=make_config())
    assert r.rc == 2, r
    assert words in r.err and "error" in r.err.lower(), r
    assert r.out == ""
    assert redis_db.xlen(STREAM) == 0


def test_host_options_refused_for_scans(inv, make_config, redis_db):
    for opt, val in (("--orgs", "3"), ("--hosts", "10"), ("--rereports", "0.1")):
        r = inv("ingest", "simulate", "scans", "--count", "10", opt, val, config=make_config())
        assert r.rc == 2 and f"{opt} is for hosts" in r.err, r


def test_max_message_size_too_small(inv, make_config, redis_db):
    r = inv("ingest", "simulate", "hosts", "--count", "10",
            config=hosts_cfg(make_config, max_message_size=1024))
    assert r.rc == 2 and "ingest.hosts.max_message_size" in r.err, r
    assert redis_db.xlen(STREAM) == 0
