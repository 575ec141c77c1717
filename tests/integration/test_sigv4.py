"""SigV4: the project's signer (src/sources/aws/sigv4.c, driven through
tests/tools/sigv4_tool) against Debian's botocore signer over thousands of
generated requests, plus the cases of the public AWS SigV4 test suite
(query encoding and ordering, repeated and multi-line headers, spaces,
unreserved characters, dot segments, session tokens, empty bodies), and
verification of botocore-signed requests (as the fake AWS does)."""
import hashlib
import json
import os
import random
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

AKID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
BLACKLIST = {"expect", "transfer-encoding", "user-agent", "x-amzn-trace-id"}


@pytest.fixture(scope="module")
def tool():
    path = Path(os.environ["INVENTORY_BIN"]).parent / "tests" / "tools" / "sigv4_tool"
    if not path.exists():
        pytest.fail(f"{path} not built (make unit-bins)")
    p = subprocess.Popen([str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def call(req):
        p.stdin.write(json.dumps(req) + "\n")
        p.stdin.flush()
        return json.loads(p.stdout.readline())

    yield call
    p.stdin.close()
    assert p.wait(timeout=30) == 0


def botocore_sign(method, url, headers, body, service, region, amz_date, token=None):
    """botocore's own steps of SigV4Auth.add_auth with a fixed timestamp."""
    req = AWSRequest(method=method, url=url, data=body)
    for k, v in headers:
        req.headers[k] = v  # HTTPHeaders appends: repeated headers stay repeated
    auth_cls = S3SigV4Auth if service == "s3" else SigV4Auth
    auth = auth_cls(Credentials(AKID, SECRET, token), service, region)
    req.context["timestamp"] = amz_date
    auth._modify_request_before_signing(req)
    canonical = auth.canonical_request(req)
    sig = auth.signature(auth.string_to_sign(req, canonical), req)
    auth._inject_signature_to_request(req, sig)
    return req, canonical


def to_tool(req, url, body, service, region, amz_date, token=None, with_auth=False):
    host = url.split("/")[2]
    hdrs = [["host", host]]
    for k, v in req.headers.items():
        if k.lower() in BLACKLIST or (k.lower() == "authorization" and not with_auth):
            continue
        hdrs.append([k, v])
    rest = url.split("/", 3)[3] if url.count("/") >= 3 else ""
    path, _, query = ("/" + rest).partition("?")
    if "X-Amz-Content-SHA256" in req.headers:
        ph = req.headers["X-Amz-Content-SHA256"]
    else:
        ph = hashlib.sha256(body or b"").hexdigest()
    return {"method": req.method, "path": path, "query": query, "headers": hdrs,
            "payload_hash": ph, "service": service, "region": region, "amz_date": amz_date,
            "access_key_id": AKID, "secret_access_key": SECRET, "session_token": token or ""}


def check(tool, method, url, headers, body, service="service", region="us-east-1",
          amz_date="20150830T123600Z", token=None):
    req, canonical = botocore_sign(method, url, headers, body, service, region, amz_date, token)
    out = tool(to_tool(req, url, body, service, region, amz_date, token))
    assert out.get("canonical") == canonical, (url, headers)
    assert out["authorization"] == req.headers["Authorization"]
    # the request as botocore would send it verifies; a tampered one does not
    signed = to_tool(req, url, body, service, region, amz_date, token, with_auth=True)
    assert tool(signed)["verified"] is True, tool(signed)
    bad = dict(signed, query=signed["query"] + ("&" if signed["query"] else "") + "x=1")
    assert tool(bad)["verified"] is False
    bad = dict(signed, payload_hash=hashlib.sha256(b"other").hexdigest())
    assert tool(bad)["verified"] is False


# The cases of the AWS SigV4 test suite (aws-sig-v4-test-suite), as requests.
SUITE = [
    ("GET", "http://example.amazonaws.com/", [], b""),
    ("GET", "http://example.amazonaws.com/?Param2=value2&Param1=value1", [], b""),
    ("GET", "http://example.amazonaws.com/?Param1=value2&Param1=Value1", [], b""),
    ("GET", "http://example.amazonaws.com/?Param1=value1&Param1=value2", [], b""),
    ("GET", "http://example.amazonaws.com/?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
            "abcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
            "abcdefghijklmnopqrstuvwxyz", [], b""),
    ("GET", "http://example.amazonaws.com/?%E1%88%B4=bar", [], b""),
    ("GET", "http://example.amazonaws.com/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
            "abcdefghijklmnopqrstuvwxyz", [], b""),
    ("GET", "http://example.amazonaws.com/%E1%88%B4", [], b""),
    ("GET", "http://example.amazonaws.com/example%20space/", [], b""),
    ("GET", "http://example.amazonaws.com/example/..", [], b""),
    ("GET", "http://example.amazonaws.com/example1/example2/../..", [], b""),
    ("GET", "http://example.amazonaws.com/./", [], b""),
    ("GET", "http://example.amazonaws.com/./foo", [], b""),
    ("GET", "http://example.amazonaws.com/example/./", [], b""),
    ("GET", "http://example.amazonaws.com//example//", [], b""),
    ("GET", "http://example.amazonaws.com/", [("My-Header1", "value2"), ("My-Header1", "value2"),
                                               ("My-Header1", "value1")], b""),
    ("GET", "http://example.amazonaws.com/", [("My-Header1", "value1\n  value2\n     value3")],
     b""),
    ("GET", "http://example.amazonaws.com/", [("My-Header1", "    value1"),
                                               ("My-Header2", '    "a   b   c"')], b""),
    ("GET", "http://example.amazonaws.com/", [("My-Header1", "value1   ")], b""),
    ("GET", "http://example.amazonaws.com/", [("My-Header1", "")], b""),
    ("POST", "http://example.amazonaws.com/", [], b""),
    ("POST", "http://example.amazonaws.com/?Param1=value1", [], b""),
    ("POST", "http://example.amazonaws.com/",
     [("Content-Type", "application/x-www-form-urlencoded")], b"Param1=value1"),
    ("POST", "http://example.amazonaws.com/",
     [("Content-Type", "application/x-www-form-urlencoded; charset=utf8")], b"Param1=value1"),
    ("GET", "http://example.amazonaws.com:8443/", [("User-Agent", "ignored/1.0")], b""),
]


@pytest.mark.parametrize("case", SUITE, ids=[f"{c[0]} {c[1][28:60]}" for c in SUITE])
def test_suite_cases(tool, case):
    check(tool, *case)


def test_session_token(tool):
    check(tool, "POST", "http://sts.amazonaws.com/", [("Content-Type", "application/x-www-form"
                                                     "-urlencoded; charset=utf-8")],
          b"Action=GetCallerIdentity&Version=2011-06-15", service="sts",
          token="AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFq"
                "wAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2w"
                "UE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+x"
                "o0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iS"
                "IlTJabIQwj2ICCR/oLxBA==")


def test_s3_signs_wire_path_and_content_hash(tool):
    check(tool, "GET", "http://bucket.s3.amazonaws.com/a%20b/../c//d?location", [], b"",
          service="s3")
    check(tool, "PUT", "http://s3.eu-west-1.amazonaws.com/bucket/key%2Fwith%20slash", [],
          b"hello", service="s3", region="eu-west-1")


CHARS = ("abcXYZ019-_.~ !\"#$%&'()*+,/:;<=>?@[\\]^`{|}" + "é日ß\u1234")


def rnd_text(rng, lo=0, hi=12):
    return "".join(rng.choice(CHARS) for _ in range(rng.randint(lo, hi)))


def rnd_header_value(rng):
    parts = [rnd_text(rng, 0, 6).replace("\n", "") for _ in range(rng.randint(1, 4))]
    seps = [" ", "  ", "\t", "\n  ", "   "]
    v = "".join(p + rng.choice(seps) for p in parts)
    return rng.choice(["", " ", "  "]) + v


def test_generated_requests_match_botocore(tool):
    rng = random.Random(20261130)
    services = ["ec2", "sts", "elasticloadbalancing", "s3", "iam", "my-service"]
    for i in range(2000):
        service = rng.choice(services)
        segs = [rnd_text(rng, 0, 6) for _ in range(rng.randint(0, 5))]
        segs += rng.choice([[], ["."], [".."], ["", ""]])
        rng.shuffle(segs)
        path = "/" + "/".join(quote(s, safe=rng.choice(["~", "~!$'()*+,;=:@"])) for s in segs)
        params = [(rnd_text(rng, 0, 8), rnd_text(rng, 0, 10)) for _ in range(rng.randint(0, 6))]
        if params and rng.random() < 0.3:
            params.append((params[0][0], rnd_text(rng)))  # a repeated key
        query = "&".join(quote(k, safe="-_.~") + "=" + quote(v, safe="-_.~") for k, v in params)
        # the project's encoder gives the same wire query
        assert tool({"params": [list(p) for p in params]})["query_encoded"] == query
        headers = []
        for _ in range(rng.randint(0, 5)):
            name = "".join(rng.choice("abcdefXYZ-0123") for _ in range(rng.randint(1, 8)))
            name = "X-" + name
            headers.append((name, rnd_header_value(rng)))
            if rng.random() < 0.2:
                headers.append((name.upper(), rnd_header_value(rng)))  # repeated, other case
        if rng.random() < 0.3:
            headers.append(("User-Agent", "inventory/test"))
        body = rng.choice([b"", b"", rnd_text(rng, 1, 40).encode()])
        port = rng.choice(["", ":8080", ":443"])
        url = f"http://host{i}.example.com{port}{path}" + (f"?{query}" if query else "")
        token = rng.choice([None, None, "token/" + str(i) + "=="])
        check(tool, rng.choice(["GET", "POST", "PUT", "DELETE"]), url, headers, body,
              service=service, region=rng.choice(["us-east-1", "eu-central-1", "cn-north-1"]),
              amz_date=f"2026{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}T"
                       f"{rng.randint(0, 23):02d}{rng.randint(0, 59):02d}00Z", token=token)


def test_verify_rejects_malformed_authorization(tool):
    base = {"method": "GET", "path": "/", "query": "", "payload_hash": hashlib.sha256(b"").hexdigest(),
            "service": "ec2", "region": "us-east-1", "amz_date": "20150830T123600Z",
            "access_key_id": AKID, "secret_access_key": SECRET}
    for auth in ["AWS4-HMAC-SHA256", "Basic abc", "AWS4-HMAC-SHA256 Credential=AKID/2015/x",
                 "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/ec2/aws4_request, "
                 "SignedHeaders=host, Signature=zz",
                 "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/ec2/aws4_request, "
                 "SignedHeaders=host;x-missing, Signature=" + "0" * 64]:
        out = tool(dict(base, headers=[["host", "h"], ["Authorization", auth]]))
        assert out["verified"] is False and out["verify_error"], auth
