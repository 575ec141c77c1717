"""The scan simulator, `inventory ingest simulate scans` (docs/ingest.md,
"Simulator"): message shape and validity checked in Python against the
rules of docs/ingest.md, counts, the duplicate / out-of-order / invalid
fractions, every invalid reason, --seed determinism, --rate pacing,
--count and signals, option errors and Redis failures."""
import binascii
import collections
import ipaddress
import json
import re
import signal
import time

import pytest

from streams import entries as stream_entries

SUMMARY = re.compile(r"^published (\d+) messages \(valid (\d+), duplicates (\d+), "
                     r"out_of_order (\d+), invalid (\d+)\) in ([0-9.]+) s$", re.M)
REASONS = ("json", "missing_field", "ip", "port", "service", "timestamp", "data_version",
           "base64", "encoding", "oversized")
DEFAULT_MAX = 64 << 10


def ingest_cfg(make_config, **scans):
    """A config with ingest.scans.<key>: value lines."""
    extra = "ingest:\n  scans:\n" + "".join(f"    {k}: {v}\n" for k, v in scans.items())
    return make_config(extra=extra) if scans else make_config()


def summary(r):
    m = SUMMARY.search(r.out)
    assert m, r
    n, valid, dup, ooo, bad = (int(x) for x in m.groups()[:5])
    assert n == valid + dup + ooo + bad, r
    return {"n": n, "valid": valid, "duplicates": dup, "out_of_order": ooo, "invalid": bad,
            "seconds": float(m.group(6))}


def simulate(inv, cfg, *args, timeout=60):
    r = inv("ingest", "simulate", "scans", *args, config=cfg, timeout=timeout)
    assert r.rc == 0, r
    return summary(r)


def entries(redis_db, stream="scan-topic"):
    """[(id, fields)] of the whole stream, in order."""
    return stream_entries(redis_db, stream)


def check(fields, max_size=DEFAULT_MAX):
    """Validates one stream entry as docs/ingest.md says. Returns (reason,
    None) for an invalid one, else (None, (ip, port, service, ts, text))
    with ip in canonical form and text the decoded response."""
    data = fields.get("data")
    if data is None:
        return "json", None
    if len(data.encode()) > max_size:
        return "oversized", None
    try:
        m = json.loads(data, parse_constant=lambda c: float(c))
    except ValueError:
        return "json", None
    if not isinstance(m, dict):
        return "json", None
    for f in ("ip", "port", "service", "timestamp", "data_version"):
        if f not in m:
            return "missing_field", None
    ip = m["ip"]
    try:
        if not isinstance(ip, str):
            raise ValueError
        ip = str(ipaddress.ip_address(ip))
    except ValueError:
        return "ip", None
    port = m["port"]
    if type(port) is not int or not 1 <= port <= 65535:
        return "port", None
    svc = m["service"]
    if (not isinstance(svc, str) or not 1 <= len(svc.encode()) <= 64
            or any(ord(c) < 0x20 or ord(c) == 0x7f for c in svc)):
        return "service", None
    ts = m["timestamp"]
    if type(ts) is not int or not 0 <= ts <= 253402300799:
        return "timestamp", None
    ver = m["data_version"]
    if type(ver) is not int or ver not in (1, 2):
        return "data_version", None
    d = m.get("data")
    field = "response_bytes_utf8" if ver == 1 else "response_str"
    if not isinstance(d, dict) or field not in d:
        return "missing_field", None
    if ver == 1:
        try:
            raw = binascii.a2b_base64(d[field].encode("ascii"), strict_mode=True)
        except (binascii.Error, UnicodeEncodeError, AttributeError):
            return "base64", None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return "encoding", None
    else:
        text = d[field]
    if "\0" in text:
        return "encoding", None
    return None, (ip, port, svc, ts, text)


def analyse(es, max_size=DEFAULT_MAX):
    """Classifies the stream independently of the simulator: invalid (by
    reason), duplicate (exactly an earlier valid message), out of order
    (older than the newest of its key so far), else fresh."""
    seen, newest = set(), {}
    kinds, reasons, valid = collections.Counter(), collections.Counter(), []
    for _, f in es:
        reason, v = check(f, max_size)
        if reason:
            kinds["invalid"] += 1
            reasons[reason] += 1
            continue
        valid.append((f["data"], v))
        key = v[:3]
        if f["data"] in seen:
            kinds["duplicates"] += 1
        elif v[3] < newest.get(key, -1):
            kinds["out_of_order"] += 1
        else:
            assert v[3] > newest.get(key, -1), f  # fresh: strictly newer
            kinds["valid"] += 1
        seen.add(f["data"])
        newest[key] = max(newest.get(key, -1), v[3])
    return kinds, reasons, valid


def test_valid_messages(inv, make_config, redis_db):
    """Only fresh messages: all valid, shaped as documented, on the
    configured stream; every key visited; both data versions; IPv4 and
    IPv6; per-key clocks moving forward; responses changing with time."""
    cfg = ingest_cfg(make_config, stream="scans-in")
    s = simulate(inv, cfg, "--rate", "0", "--count", "2400", "--keys", "300", "--seed", "7")
    assert s == {**s, "n": 2400, "valid": 2400, "duplicates": 0, "out_of_order": 0, "invalid": 0}
    assert redis_db.xlen("scan-topic") == 0
    es = entries(redis_db, "scans-in")
    assert len(es) == 2400
    versions, keys, ips = collections.Counter(), set(), set()
    texts = collections.defaultdict(list)
    last = {}
    non_ascii = 0
    for _, f in es:
        assert list(f) == ["data"]
        m = json.loads(f["data"])
        assert list(m) == ["ip", "port", "service", "timestamp", "data_version", "data"]
        reason, v = check(f)
        assert reason is None, f
        ip, port, svc, ts, text = v
        versions[m["data_version"]] += 1
        assert list(m["data"]) == (["response_str"] if m["data_version"] == 2
                                   else ["response_bytes_utf8"])
        keys.add(v[:3])
        ips.add(ip)
        assert ts > last.get(v[:3], 0), f  # no out-of-order asked for
        last[v[:3]] = ts
        assert 1732000000 <= ts < 1732000000 + 86400 * 10
        texts[v[:3]].append(text)
        non_ascii += any(ord(c) > 127 for c in text)
        assert svc in {"SSH", "HTTP", "HTTPS", "FTP", "SMTP", "MYSQL", "REDIS"}
        assert port in {21, 22, 25, 80, 443, 587, 2222, 3306, 6379, 8080, 8443}
    assert len(keys) == 300  # 2400 fresh messages visit every key 8 times
    assert all(len(t) == 8 for t in texts.values())
    assert 0.4 < versions[1] / 2400 < 0.6 and versions[1] + versions[2] == 2400
    v6 = [ip for ip in ips if ":" in ip]
    assert v6 and len(v6) < len(ips) / 4, ips
    spelled = [json.loads(f["data"])["ip"] for _, f in es]
    assert any(re.fullmatch(r"(?:[0-9A-F]{4}:){7}[0-9A-F]{4}", ip) for ip in spelled)
    assert 0 < non_ascii < 2400
    # The response changes with the timestamp: the latest one is visible.
    assert sum(len(set(t)) == len(t) for t in texts.values()) > 290
    assert "10.0.0.7" in ips


def test_fractions_and_reasons(inv, make_config, redis_db):
    """Duplicates, out-of-order and invalid messages in the asked
    proportions; the summary agrees with an independent analysis of the
    stream; invalid messages cycle through every reason of docs/ingest.md."""
    cfg = ingest_cfg(make_config, max_message_size=1024)
    s = simulate(inv, cfg, "--rate", "0", "--count", "6000", "--keys", "500", "--duplicates",
                 "0.3", "--out-of-order", "0.2", "--invalid", "0.1", "--seed", "3")
    assert s["n"] == 6000
    for kind, p in (("duplicates", 0.3), ("out_of_order", 0.2), ("invalid", 0.1),
                    ("valid", 0.4)):
        assert abs(s[kind] - p * 6000) < 0.03 * 6000, (kind, s)
    es = entries(redis_db)
    assert len(es) == 6000
    kinds, reasons, valid = analyse(es, 1024)
    assert kinds["invalid"] == s["invalid"]
    assert kinds["valid"] == s["valid"]
    # An out-of-order message may by chance equal an earlier one exactly.
    assert abs(kinds["duplicates"] - s["duplicates"]) <= 5
    assert kinds["duplicates"] + kinds["out_of_order"] == s["duplicates"] + s["out_of_order"]
    assert set(reasons) == set(REASONS), reasons
    assert max(reasons.values()) - min(reasons.values()) <= 1, reasons  # each in turn
    # Out-of-order ones are older than the newest of their key, by up to a day.
    newest, lags = {}, []
    for data, v in valid:
        k = v[:3]
        if v[3] < newest.get(k, 0):
            lags.append(newest[k] - v[3])
        newest[k] = max(newest.get(k, 0), v[3])
    assert lags and max(lags) <= 86400 and max(lags) > 3600
    # The entry without a data field is a `json` one.
    assert any("data" not in f for _, f in es)


def test_oversized_exceeds_configured_max(inv, make_config, redis_db):
    """--invalid 1: one message per reason in turn; the oversized one
    exceeds ingest.scans.max_message_size (default 64 KiB)."""
    s = simulate(inv, make_config(), "--rate", "0", "--count", "20", "--invalid", "1",
                 "--seed", "11")
    assert s["invalid"] == 20 and s["n"] == 20
    es = entries(redis_db)
    got = [check(f)[0] for _, f in es]
    assert got == list(REASONS) * 2
    sizes = [len(f["data"].encode()) for _, f in es if check(f)[0] == "oversized"]
    assert all(DEFAULT_MAX < n < 2 * DEFAULT_MAX for n in sizes)
    # Otherwise a well-formed message: only its size is wrong.
    reason, _ = check(next(f for _, f in es if check(f)[0] == "oversized"), max_size=1 << 30)
    assert reason is None


def test_seed_determinism(inv, make_config, redis_db):
    cfg = make_config()
    args = ["--rate", "0", "--count", "3000", "--keys", "200", "--duplicates", "0.2",
            "--out-of-order", "0.2", "--invalid", "0.05"]
    a = simulate(inv, cfg, *args, "--seed", "42", "--stream", "a")
    b = simulate(inv, cfg, *args, "--seed", "42", "--stream", "b")
    c = simulate(inv, cfg, *args, "--seed", "43", "--stream", "c")
    da = [f for _, f in entries(redis_db, "a")]
    db_ = [f for _, f in entries(redis_db, "b")]
    dc = [f for _, f in entries(redis_db, "c")]
    assert len(da) == 3000 and da == db_
    assert {k: a[k] for k in a if k != "seconds"} == {k: b[k] for k in b if k != "seconds"}
    assert dc != da and c["n"] == 3000
    # The same seed at a different rate and in a shorter run: a prefix.
    simulate(inv, cfg, *args[2:], "--rate", "2000", "--count", "500", "--seed", "42",
             "--stream", "d")
    assert [f for _, f in entries(redis_db, "d")] == da[:500]


def test_rate_is_paced_smoothly(inv, make_config, redis_db):
    """--rate 400 --count 800 takes about 2 s, spread evenly (no bursts of
    a second's worth)."""
    t0 = time.monotonic()
    s = simulate(inv, make_config(), "--rate", "400", "--count", "800", "--seed", "1")
    wall = time.monotonic() - t0
    assert s["n"] == 800
    assert 1.8 <= s["seconds"] <= 3.0 and wall >= 1.8, s
    ms = [int(i.split("-")[0]) for i, _ in entries(redis_db)]
    bins = collections.Counter((t - ms[0]) // 250 for t in ms)
    full = [bins[i] for i in range(0, max(bins))]  # the last bin may be partial
    # 100 per 250 ms expected; a burst would put hundreds in one bin.
    assert max(full) <= 160 and min(full) >= 40, bins


def test_until_signal(inv_popen, make_config, redis_db):
    """Without --count: runs until SIGTERM/SIGINT, then prints the summary
    and exits 0; the summary counts what Redis took."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        redis_db.delete("scan-topic")
        p = inv_popen("ingest", "simulate", "scans", "--rate", "500", config=make_config())
        deadline = time.monotonic() + 15
        while redis_db.xlen("scan-topic") < 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        p.send_signal(sig)
        r = p.wait(timeout=15)
        assert r.rc == 0, r
        s = summary(r)
        assert s["n"] >= 200 and s["n"] == redis_db.xlen("scan-topic")
        assert "seed=" in r.err  # a random seed is logged so a run can be repeated


@pytest.mark.parametrize("args, words", [
    (["--duplicates", "1.5"], "--duplicates"),
    (["--duplicates", "abc"], "--duplicates"),
    (["--duplicates", ""], "--duplicates"),
    (["--out-of-order", "-0.1"], "--out-of-order"),
    (["--invalid", "nan"], "--invalid"),
    (["--invalid", "0.1x"], "--invalid"),
    (["--duplicates", "0.6", "--out-of-order", "0.3", "--invalid", "0.2"], "add up to"),
    (["--keys", "0"], "--keys"),
    (["--keys", "20000000"], "--keys"),
    (["--rate", "-1"], "--rate"),
    (["--count", "0"], "--count"),
    (["--seed", "x"], "--seed"),
    (["--stream", "bad name"], "--stream"),
    (["--bogus"], "bogus"),
])
def test_bad_options(inv, make_config, redis_db, args, words):
    r = inv("ingest", "simulate", "scans", "--count", "10", *args, config=make_config())
    assert r.rc == 2, r
    assert words in r.err and "error" in r.err.lower(), r
    assert r.out == ""
    assert redis_db.xlen("scan-topic") == 0


def test_unknown_stream_kind(inv, make_config):
    r = inv("ingest", "simulate", "bogus", "--count", "1", config=make_config())
    assert r.rc == 2 and "scans" in r.err and "hosts" in r.err, r


def test_redis_failures(inv, make_config, redis_db):
    """Redis unreachable, or the stream key of another type: exit 1 with the
    reason; the password is never printed."""
    import socket
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    secret = "s3cret-pa55word-xyz"
    cfg = make_config(endpoint=f"127.0.0.1:{port}", redis_password=secret)
    r = inv("ingest", "simulate", "scans", "--count", "10", config=cfg)
    assert r.rc == 1, r
    assert "redis" in r.err and str(port) in r.err, r
    assert secret not in r.out + r.err
    redis_db.set("scan-topic", "not a stream")
    r = inv("ingest", "simulate", "scans", "--count", "10", "--rate", "0", config=make_config())
    assert r.rc == 1, r
    assert "WRONGTYPE" in r.err and "scan-topic" in r.err, r
    assert "published" not in r.out
