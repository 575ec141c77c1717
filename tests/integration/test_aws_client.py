"""The AWS client (src/sources/aws/client.c, creds.c, http.c) against the
fake AWS (tests/fakes/fakeaws.c), driven through `inventory aws whoami` and
`inventory aws call`: credentials of every provider resolved to accounts,
signed calls, AWS error documents, retries with backoff on throttling / 5xx /
I/O faults, no retry on client errors, malformed answers refused,
cancellation, timeouts, web identity token refresh. Secrets never show."""
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, check_sanitizers, child_env, command

sys.path.insert(0, str(ROOT / "tests" / "fakes"))
from fakeaws import FakeAWS, account_id, fakeaws_bin  # noqa: E402

KEY1, SECRET1 = FakeAWS.keys(1)
KEY2, SECRET2 = FakeAWS.keys(2)
SECRETS = (SECRET1, SECRET2, "web-token-value")


@pytest.fixture(scope="module")
def fake():
    with FakeAWS(fakeaws_bin(), accounts=2, regions=3,
                 web_identity_token="web-token-value") as f:
        yield f


@pytest.fixture
def aws_env(fake, tmp_path):
    """Environment and config writer for one test: fresh fake state, shared
    files and token file in tmp_path, env credentials of account 1."""
    fake.reset()
    (tmp_path / "aws").mkdir()
    (tmp_path / "aws" / "config").write_text(
        "[default]\nregion = eu-west-1\n"
        "[profile two]\naws_access_key_id = " + KEY2 + "\n")
    (tmp_path / "aws" / "credentials").write_text(
        "[two]\naws_secret_access_key = " + SECRET2 + "\n"
        "[bad]\naws_access_key_id = " + KEY1 + "\naws_secret_access_key = wrong-secret\n"
        "[unknown]\naws_access_key_id = AKIAFAKE999999999999\naws_secret_access_key = x\n")
    (tmp_path / "token").write_text("web-token-value\n")
    env = {
        "AWS_ACCESS_KEY_ID": KEY1,
        "AWS_SECRET_ACCESS_KEY": SECRET1,
        "AWS_SESSION_TOKEN": None,
        "AWS_CONFIG_FILE": str(tmp_path / "aws" / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws" / "credentials"),
        "AWS_PROFILE": None,
    }

    class Env:
        pass

    e = Env()
    e.env = env
    e.fake = fake
    e.dir = tmp_path

    def config(extra="", endpoint=None, retry="{max_attempts: 4, base_delay: 10ms, max_delay: 50ms}",
               http="{timeout: 10s, connect_timeout: 2s}", ec2=("env1", "two", "web"),
               enabled=True, name="aws.yaml"):
        text = f"""---
aws:
  is_enabled: {"true" if enabled else "false"}
  region: eu-central-1
  endpoint_url: {endpoint or fake.url}
  retry: {retry}
  http: {http}
  services:
    ec2: {{use_credentials: [{", ".join(ec2)}]}}
    elb: {{use_credentials: [env1]}}
    elbv2: {{use_credentials: [env1]}}
    s3: {{use_credentials: [env1]}}
  credentials:
    env1: {{provider: env}}
    two: {{provider: profile, profile: {{name: two}}}}
    bad: {{provider: profile, profile: {{name: bad}}}}
    unknown: {{provider: profile, profile: {{name: unknown}}}}
    web:
      provider: token_file
      token_file:
        path: {tmp_path / "token"}
        role_arn: "arn:aws:iam::{account_id(2)}:role/inventory"
        role_session_name: inventory-test
{extra}"""
        p = tmp_path / name
        p.write_text(text)
        return str(p)

    e.config = config
    return e


def no_secrets(r):
    for s in SECRETS:
        assert s not in r.out and s not in r.err, f"secret {s!r} printed:\n{r}"


def call(inv, e, *args, config=None, timeout=60):
    r = inv("aws", "call", *args, config=config or e.config(), env=e.env, timeout=timeout)
    no_secrets(r)
    return r


# ---- credentials ------------------------------------------------------------

def test_whoami_every_provider(inv, aws_env):
    cfg = aws_env.config(ec2=("env1", "two", "web"))
    r = inv("aws", "whoami", "-o", "json", config=cfg, env=aws_env.env)
    no_secrets(r)
    rows = {row["credential"]: row for row in r.json()}
    assert rows["env1"]["account_id"] == account_id(1) and rows["env1"]["status"] == "ok"
    assert rows["env1"]["provider"] == "env"
    assert rows["env1"]["services"] == "ec2,elb,elbv2,s3"
    assert rows["two"]["account_id"] == account_id(2) and rows["two"]["provider"] == "profile"
    assert rows["web"]["account_id"] == account_id(2) and rows["web"]["provider"] == "token_file"
    assert rows["web"]["services"] == "ec2"
    assert rows["bad"]["account_id"] is None
    assert rows["bad"]["status"].startswith("error: SignatureDoesNotMatch: ")
    assert "(HTTP 403, request id " in rows["bad"]["status"]
    assert rows["unknown"]["status"].startswith("error: InvalidClientTokenId: ")
    assert r.rc == 1  # two credentials do not resolve
    # Client errors are not retried: one GetCallerIdentity per credential.
    assert aws_env.fake.count("sts.GetCallerIdentity") == 5
    assert aws_env.fake.count("sts.AssumeRoleWithWebIdentity") == 1


def test_whoami_table_and_missing_env(inv, aws_env):
    env = dict(aws_env.env, AWS_ACCESS_KEY_ID=None)
    r = inv("aws", "whoami", config=aws_env.config(), env=env)
    assert r.rc == 1
    lines = r.out.splitlines()
    assert lines[0].split() == ["CREDENTIAL", "PROVIDER", "ACCOUNT", "SERVICES", "STATUS"]
    env1 = next(line for line in lines if line.strip().startswith("env1"))
    assert "credential env1 (env): AWS_ACCESS_KEY_ID is not set" in env1
    two = next(line for line in lines if line.strip().startswith("two"))
    assert account_id(2) in two and two.rstrip().endswith("ok")


def test_profile_errors(inv, aws_env):
    (aws_env.dir / "aws" / "credentials").write_text("[two]\n")
    r = inv("aws", "whoami", "-o", "json", config=aws_env.config(), env=aws_env.env)
    assert r.rc == 1
    rows = {row["credential"]: row for row in r.json()}
    assert rows["two"]["status"].startswith(
        "error: credential two (profile): profile \"two\" has no aws_secret_access_key (in ")
    assert rows["bad"]["status"].startswith(
        "error: credential bad (profile): profile \"bad\" not found in ")
    assert rows["env1"]["status"] == "ok"


def test_token_file_refused(inv, aws_env):
    (aws_env.dir / "token").write_text("another-token\n")
    r = call(inv, aws_env, "-s", "ec2", "-a", "DescribeRegions", "--credential", "web")
    assert r.rc == 1
    assert "client error: InvalidIdentityToken: credential web (token_file): " \
        "AssumeRoleWithWebIdentity: Couldn't verify the web identity token" in r.err
    assert "another-token" not in r.err


def test_expired_temporary_credentials_are_refreshed(inv, aws_env):
    # Three calls a second apart; the fake forgets every temporary
    # credential after the first: AWS answers ExpiredToken / RequestExpired,
    # the client refreshes once and goes on.
    p = subprocess.Popen(command(["aws", "call", "-s", "ec2", "-a", "DescribeRegions",
                                  "--credential", "web", "--repeat", "3", "--interval", "1s"],
                                 aws_env.config()),
                         env=child_env(aws_env.env), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    aws_env.fake.expire_credentials()
    out, err = p.communicate(timeout=60)
    check_sanitizers(p.args, p.returncode, out, err)
    assert p.returncode == 0, err
    assert "3 calls ok" in err
    assert aws_env.fake.count("sts.AssumeRoleWithWebIdentity") == 2
    assert aws_env.fake.count("ec2.DescribeRegions", 400) == 1


def test_token_refreshed_before_expiry(inv, tmp_path):
    # Credentials that live 5 s: over ~9 s of calls they are renewed ahead
    # of their expiry, so AWS never sees an expired one.
    with FakeAWS(fakeaws_bin(), accounts=1, sts_max_duration="5s") as f:
        (tmp_path / "token").write_text("tok-abcdef\n")
        cfg = tmp_path / "aws.yaml"
        cfg.write_text(f"""aws:
  is_enabled: true
  endpoint_url: {f.url}
  services: {{ec2: {{use_credentials: [web]}}}}
  credentials:
    web:
      provider: token_file
      token_file: {{path: {tmp_path / "token"}, role_arn: "arn:aws:iam::{account_id(1)}:role/r"}}
""")
        # Eight threads share the credentials: one of them refreshes, the
        # others go on; STS sees one call per refresh, not one per thread.
        r = inv("aws", "call", "-s", "ec2", "-a", "DescribeRegions", "--repeat", "30",
                "--interval", "300ms", "--parallel", "8", config=cfg,
                env={"AWS_ACCESS_KEY_ID": None}, timeout=60)
        assert r.rc == 0, r
        assert "240 calls ok" in r.err
        assumed = f.count("sts.AssumeRoleWithWebIdentity")
        assert 2 <= assumed <= 8, assumed
        assert f.count("ec2.DescribeRegions", 200) == 240
        assert f.count("ec2.DescribeRegions") == 240  # no ExpiredToken answer, no retry


# ---- calls --------------------------------------------------------------------

def test_query_and_s3(inv, aws_env):
    r = call(inv, aws_env, "-s", "ec2", "-a", "DescribeRegions")
    assert r.rc == 0, r
    assert "<DescribeRegionsResponse" in r.out
    assert r.out.count("<regionName>") == 3
    r = call(inv, aws_env, "-s", "ec2", "-a", "DescribeVpcs", "-r", "eu-west-1",
             "-p", "MaxResults=5", "--credential", "two")
    assert r.rc == 0, r
    assert "<DescribeVpcsResponse" in r.out and f"<ownerId>{account_id(2)}</ownerId>" in r.out
    r = call(inv, aws_env, "-s", "elbv2", "-a", "DescribeLoadBalancers", "-r", "eu-west-1")
    assert r.rc == 0, r
    assert "<DescribeLoadBalancersResponse" in r.out
    r = call(inv, aws_env, "-s", "elb", "-a", "DescribeLoadBalancers", "-r", "eu-west-1")
    assert r.rc == 0, r
    r = call(inv, aws_env, "-s", "s3")
    assert r.rc == 0, r
    assert "<ListAllMyBucketsResult" in r.out
    bucket = r.out.split("<Name>")[1].split("</Name>")[0]
    r = call(inv, aws_env, "-s", "s3", "--bucket", bucket, "--subresource", "location")
    assert r.rc == 0, r
    assert "<LocationConstraint" in r.out


def test_client_error_not_retried(inv, aws_env):
    r = call(inv, aws_env, "-s", "ec2", "-a", "DescribeInstances", "-p", "MaxResults=2")
    assert r.rc == 1
    assert "error: ec2 DescribeInstances: client error: InvalidParameterValue: " in r.err
    assert "(HTTP 400, request id " in r.err
    assert aws_env.fake.count("ec2.DescribeInstances") == 1
    r = call(inv, aws_env, "-s", "ec2", "-a", "DescribeRegions", "--credential", "bad")
    assert r.rc == 1
    assert "client error: AuthFailure: AWS was not able to validate" in r.err
    assert aws_env.fake.count("ec2.DescribeRegions") == 1
    r = call(inv, aws_env, "-s", "s3", "--bucket", "no-such-bucket", "--subresource", "location")
    assert r.rc == 1
    assert "s3 GetBucketLocation: client error: NoSuchBucket" in r.err


@pytest.mark.parametrize("kind,status", [("throttle", 503), ("error", 500), ("truncate", None),
                                         ("close", None)])
def test_retried_faults(inv, aws_env, kind, status):
    aws_env.fake.add_fault(kind=kind, service="ec2", action="DescribeRegions", count=2)
    r = call(inv, aws_env, "-s", "ec2", "-a", "DescribeRegions")
    assert r.rc == 0, r
    assert aws_env.fake.count("ec2.DescribeRegions") == 3
    if status:
        assert aws_env.fake.count("ec2.DescribeRegions", status) == 2


def test_throttling_of_each_service(inv, aws_env):
    for svc in ("elb", "s3", "sts"):
        aws_env.fake.add_fault(kind="throttle", service=svc, count=1)
    r = call(inv, aws_env, "-s", "elb", "-a", "DescribeLoadBalancers")
    assert r.rc == 0, r
    r = call(inv, aws_env, "-s", "s3")
    assert r.rc == 0, r
    r = inv("aws", "whoami", config=aws_env.config(ec2=("env1",)), env=aws_env.env)
    assert "env1" in r.out and account_id(1) in r.out
    assert aws_env.fake.count("elb.DescribeLoadBalancers", 400) == 1
    assert aws_env.fake.count("s3.ListBuckets", 503) == 1
    assert aws_env.fake.count("sts.GetCallerIdentity", 400) == 1


def test_retries_run_out(inv, aws_env):
    aws_env.fake.add_fault(kind="throttle", service="ec2")
    t0 = time.monotonic()
    r = call(inv, aws_env, "-s", "ec2", "-a", "DescribeRegions",
             config=aws_env.config(retry="{max_attempts: 3, base_delay: 100ms, max_delay: 200ms}"))
    assert r.rc == 1
    assert "ec2 DescribeRegions: retryable error: RequestLimitExceeded: Request limit exceeded. " \
        "(after 3 attempts) (HTTP 503" in r.err
    assert aws_env.fake.count("ec2.DescribeRegions") == 3
    assert time.monotonic() - t0 < 5  # two backoffs of at most 100 and 200 ms
    aws_env.fake.reset()
    # No server at all: connection errors are retried too.
    r = call(inv, aws_env, "-s", "ec2", "-a", "DescribeRegions",
             config=aws_env.config(endpoint="http://127.0.0.1:1"))
    assert r.rc == 1
    assert "retryable error: POST http://127.0.0.1:1/: Couldn't connect to server" in r.err
    assert "(after 4 attempts)" in r.err


@pytest.mark.parametrize("kind,extra,message", [
    ("cut", {}, "response error: malformed response: not well-formed XML"),
    ("malformed", {}, "response error: malformed response: not well-formed XML"),
    ("badtype", {}, "response error: unexpected content type \"text/html; charset=utf-8\" "
                    "(expected XML)"),
    ("oversized", {"size": 100000, "field": "regionName"},
     "response error: malformed response: <regionName> holds more than 65536 bytes"),
])
def test_malformed_answers_refused(inv, aws_env, kind, extra, message):
    aws_env.fake.add_fault(kind=kind, service="ec2", action="DescribeRegions", **extra)
    r = call(inv, aws_env, "-s", "ec2", "-a", "DescribeRegions")
    assert r.rc == 1
    assert f"error: ec2 DescribeRegions: {message}" in r.err, r.err
    assert aws_env.fake.count("ec2.DescribeRegions") == 1  # not retried


def test_unexpected_elements_accepted(inv, aws_env):
    aws_env.fake.add_fault(kind="unexpected", service="ec2", action="DescribeRegions")
    r = call(inv, aws_env, "-s", "ec2", "-a", "DescribeRegions")
    assert r.rc == 0, r
    assert r.out.count("<regionName>") == 3


def test_oversized_body_refused(inv, aws_env):
    # 300 MB in one field: refused at AWS_RESPONSE_MAX (256 MiB) while
    # arriving, not after buffering it all.
    aws_env.fake.add_fault(kind="oversized", service="ec2", action="DescribeRegions",
                           size=256 << 20)
    r = call(inv, aws_env, "-s", "ec2", "-a", "DescribeRegions", timeout=120)
    assert r.rc == 1
    assert "response error: POST " in r.err and "response body larger than 268435456 bytes" in r.err


def test_timeout_then_retry(inv, aws_env):
    aws_env.fake.add_fault(kind="delay", service="ec2", action="DescribeRegions", ms=3000,
                           count=1)
    t0 = time.monotonic()
    r = call(inv, aws_env, "-s", "ec2", "-a", "DescribeRegions",
             config=aws_env.config(http="{timeout: 1s, connect_timeout: 1s}"))
    assert r.rc == 0, r
    assert time.monotonic() - t0 < 2.8


def test_cancel_in_flight_and_in_backoff(inv, aws_env):
    # A slow answer: SIGTERM aborts the transfer.
    aws_env.fake.add_fault(kind="delay", service="ec2", action="DescribeRegions", ms=30000)
    for cfg in (aws_env.config(),
                aws_env.config(retry="{max_attempts: 10, base_delay: 20s, max_delay: 1m}",
                               http="{timeout: 1s, connect_timeout: 1s}")):
        p = subprocess.Popen(command(["aws", "call", "-s", "ec2", "-a", "DescribeRegions"], cfg),
                             env=child_env(aws_env.env), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)  # the second config is sleeping in its backoff by now
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=20)
        check_sanitizers(p.args, p.returncode, out, err)
        assert time.monotonic() - t0 < 2.5
        assert p.returncode == 1
        assert "ec2 DescribeRegions: cancelled error: " in err, err


def test_config_errors(inv, aws_env, tmp_path):
    cfg = aws_env.config(ec2=("env1", "nope"))
    r = inv("aws", "whoami", config=cfg, env=aws_env.env)
    assert r.rc == 2
    assert r.err.strip() == f"error: {cfg}:9: aws.services.ec2.use_credentials: unknown " \
        "credential \"nope\" (not in aws.credentials)"
    bad = tmp_path / "bad.yaml"
    bad.write_text("aws:\n  credentials:\n    x:\n      provider: token_file\n"
                   "      token_file: {path: /t}\n")
    r = inv("aws", "whoami", config=bad, env=aws_env.env)
    assert r.rc == 2
    assert r.err.strip() == f"error: {bad}:3: aws.credentials.x: provider token_file needs " \
        "token_file.role_arn"
    r = inv("aws", "whoami", config=aws_env.config(enabled=False), env=aws_env.env)
    assert r.rc == 2
    assert r.err.strip() == "error: aws: disabled (set aws.is_enabled: true)"
    r = inv("aws", "call", "-s", "ec3", "-a", "X", config=aws_env.config(), env=aws_env.env)
    assert r.rc == 2 and "--service: expected ec2, elb, elbv2 or s3" in r.err


def test_many_calls_reuse_connections(inv, aws_env):
    t0 = time.monotonic()
    r = call(inv, aws_env, "-s", "ec2", "-a", "DescribeRegions", "--repeat", "500")
    assert r.rc == 0, r
    assert "500 calls ok" in r.err
    assert aws_env.fake.count("ec2.DescribeRegions", 200) == 500
    # New connections for every call would take far longer under ASan.
    assert time.monotonic() - t0 < 30


def test_streamed_items(inv, tmp_path):
    # aws_query_items over HTTP: a page of 1,000 instances streamed item by
    # item; the rest of the answer (request id, next token) stays; a page
    # cut short by the server is retried before any item is handed out.
    with FakeAWS(fakeaws_bin(), accounts=1, regions=1, vpcs_per_region=2, subnets_per_vpc=2,
                 instances_per_subnet=300) as f:
        cfg = tmp_path / "aws.yaml"
        cfg.write_text(f"""aws:
  is_enabled: true
  endpoint_url: {f.url}
  retry: {{max_attempts: 3, base_delay: 10ms, max_delay: 20ms}}
  services: {{ec2: {{use_credentials: [env1]}}}}
  credentials: {{env1: {{provider: env}}}}
""")
        env = {"AWS_ACCESS_KEY_ID": KEY1, "AWS_SECRET_ACCESS_KEY": SECRET1}
        args = ("aws", "call", "-s", "ec2", "-a", "DescribeInstances", "-r", "eu-central-1",
                "-p", "MaxResults=1000")
        full = inv(*args, config=cfg, env=env, timeout=120)
        assert full.rc == 0, full
        reservations = full.out.count("<reservationId>")
        assert full.out.count("<instanceId>") == 1000
        f.add_fault(kind="truncate", service="ec2", count=1)
        r = inv(*args, "--items", "reservationSet/item", config=cfg, env=env, timeout=120)
        assert r.rc == 0, r
        assert f"{reservations} items streamed" in r.err
        assert "<reservationSet/>" in r.out and "<instanceId>" not in r.out
        assert "<nextToken>" in r.out and "<requestId>" in r.out
        assert f.count("ec2.DescribeInstances") == 3
        # A page malformed half-way is refused, not retried.
        f.add_fault(kind="malformed", service="ec2", count=1)
        r = inv(*args, "--items", "reservationSet/item", config=cfg, env=env, timeout=120)
        assert r.rc == 1
        assert "response error: malformed response: not well-formed XML" in r.err
