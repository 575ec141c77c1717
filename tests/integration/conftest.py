"""Integration-test harness: a real PostgreSQL + Redis (scripts/stack) and
helpers to run the inventory binary under the sanitizers.

Fixtures
  stack        (session) private servers in a temp dir: .dir .env .pg_host
               .pg_port .pg_password .redis_port .redis_endpoint .database_uri
               and .dsn(dbname). Set INVENTORY_TEST_STACK=DIR to use a stack
               that is already up (it is left running); KEEP_STACK=1 keeps the
               temp dir (servers are still stopped).
  db           a fresh database per test, owned by `inventory`: .name .dsn
               .query(sql, params=None) -> list of row tuples (autocommit).
  db_factory   make_db() -> another fresh database (dropped at teardown).
  redis_db     redis.Redis client (decode_responses=True) on a FLUSHALLed
               redis; .endpoint is "127.0.0.1:PORT".
  make_config  make_config(**overrides) -> str path of a YAML config in
               tmp_path pointing at `db` and `redis_db` (see its docstring).
  inv          inv(*args, config=None, env=None, timeout=30, input=None)
               -> Result(.rc .out .err); fails the test on sanitizer reports
               or crash signals.
  inv_popen    inv_popen(*args, config=None, env=None) -> Proc for long-running
               commands (worker, scheduler); stopped at teardown.

Run through tests/run (sets INVENTORY_BIN, sanitizer options) or directly:
    /usr/bin/python3 -m pytest tests/integration -q
"""

import atexit
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import psycopg2.errors
import pytest
import redis as redis_lib

ROOT = Path(os.environ.get("INVENTORY_ROOT") or Path(__file__).resolve().parents[2])
STACK_SCRIPT = ROOT / "scripts" / "stack"

# Same defaults as tests/run, for a direct pytest run.
os.environ.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:halt_on_error=1")
os.environ.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer",
                     "ERROR: UndefinedBehaviorSanitizer")
CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGILL, signal.SIGFPE}
# Never inherited by the binary unless a test passes them in env=.
SCRUBBED_ENV = ("INVENTORY_CONFIG", "DATABASE_URI", "REDIS_ENDPOINT", "REDIS_PASSWORD")


def inventory_bin():
    if os.environ.get("INVENTORY_BIN"):
        return Path(os.environ["INVENTORY_BIN"])
    for cand in (ROOT / "build" / "san" / "inventory", ROOT / "bin" / "inventory"):
        if cand.exists():
            return cand
    return ROOT / "build" / "san" / "inventory"


def pytest_report_header(config):
    return f"inventory binary: {inventory_bin()}"


def pytest_configure(config):
    # SIGTERM (CI timeouts, kill) tears down like Ctrl-C: servers get stopped.
    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, on_term)


# --- stack -------------------------------------------------------------------

def parse_env_file(path):
    """`export KEY='value'` lines (as scripts/stack writes them) -> dict."""
    env = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        words = shlex.split(line)
        if words and words[0] == "export":
            words = words[1:]
        for w in words:
            if "=" in w:
                k, v = w.split("=", 1)
                env[k] = v
    return env


@dataclass
class Stack:
    dir: Path
    env: dict

    @property
    def pg_host(self):
        return self.env["PGHOST"]

    @property
    def pg_port(self):
        return int(self.env["PGPORT"])

    @property
    def pg_user(self):
        return self.env["PGUSER"]

    @property
    def pg_password(self):
        return self.env["PGPASSWORD"]

    @property
    def database_uri(self):
        return self.env["DATABASE_URI"]

    @property
    def redis_endpoint(self):
        return self.env["REDIS_ENDPOINT"]

    @property
    def redis_port(self):
        return int(self.redis_endpoint.rsplit(":", 1)[1])

    def dsn(self, dbname="inventory"):
        return (f"postgresql://{self.pg_user}:{self.pg_password}@{self.pg_host}:"
                f"{self.pg_port}/{dbname}?sslmode=disable")

    def connect(self, dbname="inventory"):
        return psycopg2.connect(host=self.pg_host, port=self.pg_port, user=self.pg_user,
                                password=self.pg_password, dbname=dbname, connect_timeout=10)


def _stack_cmd(*args, check=True):
    r = subprocess.run([str(STACK_SCRIPT), *args], cwd=ROOT, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=180)
    if check and r.returncode != 0:
        raise RuntimeError(f"scripts/stack {' '.join(args)} failed (exit {r.returncode}):\n"
                           f"{r.stderr}{r.stdout}")
    return r


@pytest.fixture(scope="session")
def stack():
    existing = os.environ.get("INVENTORY_TEST_STACK")
    if existing:
        d = Path(existing).resolve()
        _stack_cmd("status", "--dir", str(d))
        yield Stack(dir=d, env=parse_env_file(d / "env"))
        return

    base = os.environ.get("INVENTORY_TEST_TMP") or None
    d = Path(tempfile.mkdtemp(prefix="inventory-stack-", dir=base))
    state = {"down": False}

    def down():
        if state["down"]:
            return
        state["down"] = True
        try:
            _stack_cmd("down", "--dir", str(d), check=False)
        finally:
            if os.environ.get("KEEP_STACK") == "1":
                print(f"\nKEEP_STACK=1: stack dir kept at {d}")
            else:
                shutil.rmtree(d, ignore_errors=True)

    atexit.register(down)  # last resort if the session dies without teardown
    try:
        _stack_cmd("up", "--dir", str(d), "--fast", "--no-aof")
        yield Stack(dir=d, env=parse_env_file(d / "env"))
    finally:
        down()


# --- PostgreSQL --------------------------------------------------------------

class Database:
    def __init__(self, stack, name):
        self.stack = stack
        self.name = name
        self.dsn = stack.dsn(name)
        self._conn = None

    @property
    def conn(self):
        """A psycopg2 connection (autocommit) to this database."""
        if self._conn is None or self._conn.closed:
            self._conn = self.stack.connect(self.name)
            self._conn.autocommit = True
        return self._conn

    def query(self, sql, params=None):
        """Runs one statement; returns its rows as tuples ([] if none)."""
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description is not None else []

    def close(self):
        if self._conn is not None and not self._conn.closed:
            self._conn.close()
        self._conn = None

    def __repr__(self):
        return f"<Database {self.name}>"


@pytest.fixture(scope="session")
def _admin_conn(stack):
    conn = stack.connect("inventory")
    conn.autocommit = True
    yield conn
    conn.close()


@pytest.fixture
def db_factory(stack, _admin_conn):
    made = []

    def make_db():
        name = "test_" + secrets.token_hex(6)
        with _admin_conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}" OWNER inventory')
        d = Database(stack, name)
        made.append(d)
        return d

    yield make_db
    for d in made:
        d.close()
        # FORCE cannot end an autovacuum worker (a superuser's process) in the
        # database: it finishes soon, so try again for a while.
        for attempt in range(100):
            try:
                with _admin_conn.cursor() as cur:
                    cur.execute(f'DROP DATABASE IF EXISTS "{d.name}" WITH (FORCE)')
                break
            except psycopg2.errors.InsufficientPrivilege:
                if attempt == 99:
                    raise
                time.sleep(0.1)


@pytest.fixture
def db(db_factory):
    return db_factory()


# --- Redis -------------------------------------------------------------------

@pytest.fixture
def redis_db(stack):
    client = redis_lib.Redis(host="127.0.0.1", port=stack.redis_port, decode_responses=True,
                             socket_timeout=10, socket_connect_timeout=10)
    client.flushall()
    client.endpoint = stack.redis_endpoint
    yield client
    client.close()


# --- config ------------------------------------------------------------------

_PLAIN = re.compile(r"^[A-Za-z0-9_/.][A-Za-z0-9_/.:@+-]*$")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "~", "y", "n"}


def yaml_scalar(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    s = str(v)
    if _PLAIN.match(s) and s.lower() not in _YAML_WORDS and not s.endswith(":"):
        return s
    return json.dumps(s)  # a JSON string is a valid YAML double-quoted scalar


def yaml_dump(obj, indent=0):
    """Tiny block-style YAML emitter for dicts / lists / scalars."""
    pad = " " * indent
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                out.append(f"{pad}{k}:")
                out.append(yaml_dump(v, indent + 2))
            elif isinstance(v, (dict, list)):
                out.append(f"{pad}{k}: {'{}' if isinstance(v, dict) else '[]'}")
            else:
                out.append(f"{pad}{k}: {yaml_scalar(v)}")
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, dict) and item:
                first, *rest = yaml_dump(item, indent + 2).split("\n")
                out.append(f"{pad}- {first.lstrip()}")
                out.extend(rest)
            elif isinstance(item, list) and item:
                out.append(f"{pad}-")
                out.append(yaml_dump(item, indent + 2))
            else:
                out.append(f"{pad}- {yaml_scalar(item)}")
    else:
        out.append(pad + yaml_scalar(obj))
    return "\n".join(out)


SECTIONS = ("logging", "redis", "database", "worker", "scheduler", "api", "ingest", "hosts", "aws")
SHORTCUTS = {
    "dsn": ("database", "dsn"),
    "migration_dir": ("database", "migration_dir"),
    "endpoint": ("redis", "endpoint"),
    "level": ("logging", "level"),
    "log_level": ("logging", "level"),
    "format": ("logging", "format"),
    "log_format": ("logging", "format"),
    "concurrency": ("worker", "concurrency"),
}


@pytest.fixture
def make_config(tmp_path, db, redis_db):
    """make_config(**overrides) -> path (str) of a new YAML config file.

    Defaults: version v1alpha1, logging info/text, redis.endpoint of the
    stack (flushed), database.dsn of this test's fresh database.
    Overrides:
      dsn=, migration_dir=          database.dsn / database.migration_dir
      endpoint= (or redis_endpoint=) redis.endpoint
      level= / format=              logging.level / logging.format
      concurrency=                  worker.concurrency
      debug=, version=              top-level keys
      <section>_<key>=V             any key, e.g. redis_password="x",
                                    database_connect_timeout="1s"
      <section>={...}               merge a dict into a section (nested ok)
      extra="raw: yaml"             text appended verbatim
      name="file.yaml"              file name (default config-N.yaml)
    A value of None removes that key (a section=None removes the section).
    """
    counter = [0]

    def make(**overrides):
        cfg = {
            "version": "v1alpha1",
            "debug": False,
            "logging": {"level": "info", "format": "text"},
            "redis": {"endpoint": redis_db.endpoint},
            "database": {"dsn": db.dsn},
        }
        extra = overrides.pop("extra", None)
        counter[0] += 1
        name = overrides.pop("name", None) or f"config-{counter[0]}.yaml"
        for key, value in overrides.items():
            if key in SHORTCUTS:
                section, sub = SHORTCUTS[key]
            elif key in ("debug", "version"):
                section, sub = None, key
            elif key in SECTIONS:
                if value is None:
                    cfg.pop(key, None)
                elif isinstance(value, dict):
                    cfg.setdefault(key, {}).update(value)
                else:
                    raise TypeError(f"make_config: {key}= needs a dict or None")
                continue
            else:
                section = next((s for s in SECTIONS if key.startswith(s + "_")), None)
                if section is None:
                    raise TypeError(f"make_config: unknown override {key}=")
                sub = key[len(section) + 1:]
            target = cfg if section is None else cfg.setdefault(section, {})
            if value is None:
                target.pop(sub, None)
            else:
                target[sub] = value
        text = "---\n" + yaml_dump({k: v for k, v in cfg.items() if v != {}}) + "\n"
        if extra:
            text += extra if extra.endswith("\n") else extra + "\n"
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return make


# --- running the binary ------------------------------------------------------

@dataclass
class Result:
    args: list
    rc: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)

    @property
    def ok(self):
        return self.rc == 0

    def __str__(self):
        return (f"$ {shlex.join(self.args)}\nexit {self.rc}\n"
                f"--- stdout ---\n{self.out}--- stderr ---\n{self.err}")


def _decode(b):
    if b is None:
        return ""
    return b.decode("utf-8", "replace") if isinstance(b, bytes) else b


def child_env(env=None):
    e = {k: v for k, v in os.environ.items()
         if k not in SCRUBBED_ENV and not k.startswith("PG")}
    for k, v in (env or {}).items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = str(v)
    return e


def command(args, config, binary=None):
    b = Path(binary) if binary else inventory_bin()
    if not b.exists():
        pytest.fail(f"inventory binary {b} not found (build it: make SANITIZE=address,undefined "
                    f"O=build/san BIN=build/san/inventory build/san/inventory)", pytrace=False)
    cmd = [str(b)]
    if config is not None:
        cmd += ["--config", str(config)]
    return cmd + [str(a) for a in args]


def check_sanitizers(args, rc, out, err, what="process"):
    hits = [m for m in SANITIZER_MARKERS if m in err]
    if hits:
        pytest.fail(f"sanitizer report ({', '.join(hits)}) from {what}: {shlex.join(args)}\n"
                    f"exit {rc}\n--- stderr ---\n{err}\n--- stdout ---\n{out}", pytrace=False)
    if rc is not None and rc < 0 and -rc in CRASH_SIGNALS:
        pytest.fail(f"{what} crashed ({signal.Signals(-rc).name}): {shlex.join(args)}\n"
                    f"--- stderr ---\n{err}\n--- stdout ---\n{out}", pytrace=False)


@pytest.fixture
def inv(tmp_path):
    """inv(*args, config=None, env=None, timeout=30, input=None, cwd=None,
    binary=None) -> Result. `--config PATH` goes before args; INVENTORY_CONFIG,
    DATABASE_URI, REDIS_ENDPOINT, REDIS_PASSWORD and PG* are not inherited
    (pass them in env=; None in env= removes a variable)."""

    def run(*args, config=None, env=None, timeout=30, input=None, cwd=None, binary=None):
        cmd = command(args, config, binary)
        data = input.encode() if isinstance(input, str) else input
        try:
            p = subprocess.run(cmd, env=child_env(env), cwd=cwd or tmp_path, input=data,
                               stdin=None if data is not None else subprocess.DEVNULL,
                               capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            out, err = _decode(e.stdout), _decode(e.stderr)
            check_sanitizers(cmd, None, out, err)
            pytest.fail(f"timed out after {timeout}s: {shlex.join(cmd)}\n"
                        f"--- stderr ---\n{err}\n--- stdout ---\n{out}", pytrace=False)
        r = Result(cmd, p.returncode, _decode(p.stdout), _decode(p.stderr))
        check_sanitizers(cmd, r.rc, r.out, r.err)
        return r

    return run


class Proc:
    """A long-running inventory process with stdout/stderr in files."""

    def __init__(self, cmd, env, cwd, out_path, err_path):
        self.args = cmd
        self.out_path, self.err_path = out_path, err_path
        with open(out_path, "wb") as o, open(err_path, "wb") as e:
            self.proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                         stdout=o, stderr=e)
        self.pid = self.proc.pid
        self.result = None

    @property
    def out(self):
        return self.out_path.read_text(errors="replace")

    @property
    def err(self):
        return self.err_path.read_text(errors="replace")

    @property
    def alive(self):
        return self.proc.poll() is None

    @property
    def rc(self):
        return self.proc.poll()

    def wait_for(self, pattern, stream="err", timeout=15):
        """Waits until regex `pattern` appears in stderr ("err"), stdout
        ("out") or either ("both"); returns the match. Fails the test if the
        process exits first or on timeout."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            text = {"err": lambda: self.err, "out": lambda: self.out,
                    "both": lambda: self.out + self.err}[stream]()
            m = rx.search(text)
            if m:
                return m
            if not self.alive:
                self._finish()
                pytest.fail(f"process exited ({self.proc.returncode}) before /{pattern}/: "
                            f"{shlex.join(self.args)}\n--- stderr ---\n{self.err}\n"
                            f"--- stdout ---\n{self.out}", pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail(f"/{pattern}/ not seen in {timeout}s: {shlex.join(self.args)}\n"
                            f"--- stderr ---\n{self.err}\n--- stdout ---\n{self.out}",
                            pytrace=False)
            time.sleep(0.05)

    def send_signal(self, sig):
        if self.alive:
            self.proc.send_signal(sig)

    def wait(self, timeout=30):
        """Waits for exit; returns a Result. Fails the test on timeout."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running after {timeout}s: {shlex.join(self.args)}\n"
                        f"--- stderr ---\n{self.err}", pytrace=False)
        return self._finish()

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Sends sig (default SIGTERM), waits, SIGKILLs after timeout;
        returns a Result (rc is -9 if it had to be killed)."""
        if self.alive:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self._finish()

    def _finish(self):
        if self.result is None:
            self.result = Result(self.args, self.proc.wait(), self.out, self.err)
            check_sanitizers(self.args, self.result.rc, self.result.out, self.result.err)
        return self.result


@pytest.fixture
def inv_popen(tmp_path):
    """inv_popen(*args, config=None, env=None, cwd=None, binary=None) -> Proc.
    Still-running processes get SIGTERM (then SIGKILL) at teardown, and their
    stderr is checked for sanitizer reports."""
    procs = []

    def start(*args, config=None, env=None, cwd=None, binary=None):
        cmd = command(args, config, binary)
        n = len(procs) + 1
        p = Proc(cmd, child_env(env), cwd or tmp_path, tmp_path / f"proc{n}.out",
                 tmp_path / f"proc{n}.err")
        procs.append(p)
        return p

    yield start
    errors = []
    for p in procs:
        try:
            p.stop()
        except pytest.fail.Exception as e:
            errors.append(str(e))
    if errors:
        pytest.fail("\n\n".join(errors), pytrace=False)


# --- a stack of a test's own -------------------------------------------------

def as_pg(*cmd):
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run(prefix + [str(c) for c in cmd], cwd="/", capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def private_stack():
    """A stack of our own: its PostgreSQL can be restarted without touching
    the other tests' server."""
    d = Path(tempfile.mkdtemp(prefix="inventory-pgrestart-"))
    subprocess.run([str(ROOT / "scripts" / "stack"), "up", "--dir", str(d), "--fast",
                    "--no-aof"], check=True, capture_output=True, timeout=180)
    try:
        yield d, parse_env_file(d / "env")
    finally:
        subprocess.run([str(ROOT / "scripts" / "stack"), "down", "--dir", str(d)],
                       capture_output=True, timeout=180)
        shutil.rmtree(d, ignore_errors=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


@pytest.fixture
def durable_redis(tmp_path):
    """A private redis-server with AOF, restartable on the same port."""
    port = free_port()
    d = tmp_path / "redis"
    d.mkdir()
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(d),
            "--appendonly", "yes", "--appendfsync", "always", "--save", ""]
    procs = []

    def up():
        try:
            return redis_lib.Redis(port=port).ping()
        except redis_lib.ConnectionError:
            return False

    def start():
        procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 30
        while not up():
            assert time.monotonic() < deadline, "redis-server did not come up"
            time.sleep(0.05)

    start()

    class R:
        endpoint = f"127.0.0.1:{port}"

        def restart(self, down_for=1.0):
            p = procs[-1]
            p.send_signal(signal.SIGTERM)  # SHUTDOWN: flushes the AOF
            p.wait(timeout=10)
            time.sleep(down_for)
            start()

    yield R()
    for p in procs:
        if p.poll() is None:
            p.terminate()
            p.wait(timeout=10)


# ---- fixtures shared by several test files ----

def consumers(kind, inv, inv_popen, make_config):
    """Initialises and migrates the database, then returns
    start(config=None, **ingest_overrides) -> Proc: one `inventory ingest
    start KIND`, consuming (metrics on a free port, claims every 200 ms)."""
    def cfg(**kw):
        ingest = {"metrics": {"address": "127.0.0.1:0"}, "claim_interval": "200ms"}
        ingest.update(kw)
        return make_config(ingest={kind: ingest})

    for step in ("init", "migrate"):
        r = inv("db", step, config=cfg())
        assert r.rc == 0, r.err

    def start(config=None, **kw):
        p = inv_popen("ingest", "start", kind, config=config or cfg(**kw))
        p.wait_for(r"ingest: consuming")
        return p

    return start


@pytest.fixture
def hosts(inv, inv_popen, make_config, db, redis_db):
    """Starts host consumers: hosts(**ingest_overrides) -> Proc."""
    return consumers("hosts", inv, inv_popen, make_config)


@pytest.fixture
def feed(hosts, redis_db):
    """One host consumer running; feed(*messages) publishes and waits until
    all are acked."""
    from streams import Feed
    hosts()
    return Feed(redis_db)


@pytest.fixture
def fake():
    """The fake AWS (tests/fakes/fakeaws.py): 2 accounts, 2 regions."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))
    from fakeaws import FakeAWS
    with FakeAWS(accounts=2, regions=2, vpcs_per_region=2, subnets_per_vpc=2,
                 instances_per_subnet=3) as f:
        yield f


@pytest.fixture
def aws_env(tmp_path, fake):
    """A shared credentials file with the fake's keys, as the environment."""
    creds = tmp_path / "aws-credentials"
    lines = []
    for n in (1, 2):
        key, secret = fake.keys(n)
        lines += [f"[acct{n}]", f"aws_access_key_id = {key}", f"aws_secret_access_key = {secret}"]
    creds.write_text("\n".join(lines) + "\n")
    return {"AWS_SHARED_CREDENTIALS_FILE": str(creds),
            "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config")}


@pytest.fixture
def aws_cfg(inv, make_config, fake, aws_env):
    """aws_cfg(**aws_overrides) -> a migrated config collecting from the fake."""
    from test_queue import FAST

    def make(**aws):
        section = {"is_enabled": True, "region": "eu-central-1", "endpoint_url": fake.url,
                   "retry": {"base_delay": "20ms", "max_delay": "100ms"},
                   "services": {s: {"use_credentials": ["acct1", "acct2"]}
                                for s in ("ec2", "elb", "elbv2", "s3")},
                   "credentials": {f"acct{n}": {"provider": "profile",
                                                "profile": {"name": f"acct{n}"}}
                                   for n in (1, 2)}}
        section.update(aws)
        cfg = make_config(aws=section, worker=dict(FAST, concurrency=4))
        assert inv("db", "init", config=cfg).rc == 0
        assert inv("db", "migrate", config=cfg).rc == 0
        return cfg
    return make
