"""Shared set-up of the Python benchmarks (bench/collect, bench/api): a
private stack on free ports, the fake AWS with the benchmark's layout, a
config with AWS credentials for it, and a worker; all stopped on exit.
Stack: the same private stack without the fake AWS (bench/ingest)."""
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "fakes"))
INV = str(ROOT / "bin" / "inventory")

TABLES = ["aws_region", "aws_az", "aws_vpc", "aws_subnet", "aws_instance", "aws_image",
          "aws_loadbalancer", "aws_bucket", "aws_net_interface", "aws_dhcp_option_set"]


def sh(*args, **kw):
    return subprocess.run(args, check=True, cwd=ROOT, **kw)


def proc_mb(pid, field):
    """VmRSS / VmHWM of a process in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


class _Procs:
    """What both set-ups share: build (_build), a private directory and
    stack (_start), running the binary against it; everything started is
    stopped on exit (__exit__), also when the set-up fails half-way."""

    def __enter__(self):
        sh("scripts/bootstrap")
        self._build()
        self.dir = Path(tempfile.mkdtemp(prefix="inventory-bench."))
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _stop_extra(self):
        """What a set-up started besides processes and the stack."""

    def __exit__(self, *exc):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
        self._stop_extra()
        if getattr(self, "db", None) is not None:
            self.db.close()
        if self.dir:
            subprocess.run(["scripts/stack", "down", "--dir", str(self.dir)], cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            subprocess.run(["rm", "-rf", str(self.dir)])

    def connect_db(self):
        import psycopg2  # noqa: E402 (installed by bootstrap)
        self.db = psycopg2.connect(self.env["DATABASE_URI"])
        self.db.autocommit = True

    def start(self, *args, log="proc.log"):
        """Starts `inventory <args>` in the background; returns the Popen."""
        p = subprocess.Popen([INV, *args], env=self.env, stderr=open(self.dir / log, "wb"))
        self.procs.append(p)
        return p

    def inv(self, *args):
        return subprocess.run([INV, *args], env=self.env, capture_output=True, text=True,
                              check=True).stdout


class Bench(_Procs):
    """with Bench(accounts, regions, instances, extra_config) as b: b.env, b.fake ..."""

    def __init__(self, accounts=2, regions=10, instances=100000, config=None, build=()):
        vpcs, subnets = 5, 10
        self.per_subnet = instances // (accounts * regions * vpcs * subnets)
        if self.per_subnet < 1:
            sys.exit("bench: too few instances for the layout")
        self.layout = dict(accounts=accounts, regions=regions, vpcs_per_region=vpcs,
                           subnets_per_vpc=subnets, instances_per_subnet=self.per_subnet)
        self.extra = config or {}
        self.build = build
        self.procs = []
        self.fake = None
        self.dir = None

    def _build(self):
        sh("make", "-s", "all", "build/rel/tests/fakes/fakeaws", *self.build,
           stdout=subprocess.DEVNULL)
        from fakeaws import FakeAWS  # noqa: E402 (needs the build above)
        self.fake = FakeAWS(ROOT / "build/rel/tests/fakes/fakeaws", **self.layout)

    def _start(self):
        d = self.dir
        sh("scripts/stack", "up", "--dir", str(d), "--fast", stdout=subprocess.DEVNULL)
        env = dict(os.environ)
        for line in (d / "env").read_text().splitlines():
            if line.startswith("export "):
                k, _, v = line[len("export "):].partition("=")
                env[k] = v.strip("'\"")
        self.fake.start()
        n = self.layout["accounts"]
        creds = d / "aws-credentials"
        creds.write_text("".join(
            f"[a{i}]\naws_access_key_id = {self.fake.keys(i)[0]}\n"
            f"aws_secret_access_key = {self.fake.keys(i)[1]}\n" for i in range(1, n + 1)))
        names = [f"a{i}" for i in range(1, n + 1)]
        cfg = {
            "version": "v1alpha1",
            "logging": {"level": "warn"},
            "redis": {"endpoint": env["REDIS_ENDPOINT"]},
            "database": {"dsn": env["DATABASE_URI"]},
            "worker": {"concurrency": 8, "metrics": {"address": "127.0.0.1:0"}},
            "aws": {"is_enabled": True, "region": "eu-central-1", "endpoint_url": self.fake.url,
                    "services": {s: {"use_credentials": names}
                                 for s in ("ec2", "elb", "elbv2", "s3")},
                    "credentials": {i: {"provider": "profile", "profile": {"name": i}}
                                    for i in names}},
        }
        for k, v in self.extra.items():
            cfg.setdefault(k, {}).update(v) if isinstance(v, dict) else cfg.__setitem__(k, v)
        (d / "bench.yaml").write_text(json.dumps(cfg))  # JSON is YAML
        env.update({"AWS_SHARED_CREDENTIALS_FILE": str(creds),
                    "AWS_CONFIG_FILE": str(d / "none"),
                    "INVENTORY_CONFIG": str(d / "bench.yaml")})
        self.env = env
        for c in (["db", "init"], ["db", "migrate"]):
            sh(INV, *c, env=env, stdout=subprocess.DEVNULL)
        t = self.fake.config["totals"]
        self.want = {"aws_region": t["regions"], "aws_az": t["azs"], "aws_vpc": t["vpcs"],
                     "aws_subnet": t["subnets"], "aws_instance": t["instances"],
                     "aws_image": t["images"],
                     "aws_loadbalancer": t["classic_lbs"] + t["v2_lbs"],
                     "aws_bucket": t["buckets"], "aws_net_interface": t["network_interfaces"],
                     "aws_dhcp_option_set": t["dhcp_option_sets"]}
        self.connect_db()


    def rows(self):
        cur = self.db.cursor()
        cur.execute(" UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in TABLES))
        return dict(cur.fetchall())

    def queue_empty(self):
        q = json.loads(self.inv("queue", "inspect", "-o", "json"))
        return q["pending"] + q["active"] + q["retry"] + q["scheduled"] == 0

    def collect_all(self, worker, timeout=600):
        """Enqueues aws:task:collect-all; waits for every row and an empty
        queue. Returns the seconds it took."""
        t0 = time.monotonic()
        self.inv("task", "submit", "--task", "aws:task:collect-all")
        while True:
            got = self.rows()
            if got == self.want and self.queue_empty():
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                sys.exit(f"bench: collection timed out; rows {got}, want {self.want}")
            if worker.poll() is not None:
                sys.exit(f"bench: the worker exited; see {self.dir / 'worker.log'}")
            time.sleep(0.02)

    def _stop_extra(self):
        if self.fake:
            try:
                self.fake.stop()
            except Exception as e:  # noqa: BLE001 - report, keep cleaning up
                print(f"fake: {e}", file=sys.stderr)


def stack_env(d):
    """The environment of the stack in d (its `export` lines over os.environ)."""
    env = dict(os.environ)
    for line in (Path(d) / "env").read_text().splitlines():
        if line.startswith("export "):
            k, _, v = line[len("export "):].partition("=")
            env[k] = v.strip("'\"")
    return env


class Stack(_Procs):
    """A private PostgreSQL + Redis on free ports with the schema migrated,
    no fake AWS (bench/ingest):

        with Stack(config={"ingest": {...}}) as s: s.env, s.db, s.redis_port, s.start(...)

    config is merged into the generated one section by section; stack_args
    go to `scripts/stack up`. Everything started is stopped on exit."""

    def __init__(self, config=None, build=(), stack_args=("--fast",)):
        self.extra = config or {}
        self.build = build
        self.stack_args = stack_args
        self.procs = []
        self.dir = None
        self.db = None

    def _build(self):
        sh("make", "-s", "all", *self.build, stdout=subprocess.DEVNULL)

    def _start(self):
        d = self.dir
        sh("scripts/stack", "up", "--dir", str(d), *self.stack_args, stdout=subprocess.DEVNULL)
        env = stack_env(d)
        cfg = {
            "version": "v1alpha1",
            "logging": {"level": "warn"},
            "redis": {"endpoint": env["REDIS_ENDPOINT"]},
            "database": {"dsn": env["DATABASE_URI"]},
        }
        for k, v in self.extra.items():
            cfg.setdefault(k, {}).update(v) if isinstance(v, dict) else cfg.__setitem__(k, v)
        (d / "bench.yaml").write_text(json.dumps(cfg))  # JSON is YAML
        env["INVENTORY_CONFIG"] = str(d / "bench.yaml")
        self.env = env
        self.redis_port = int(env["REDIS_ENDPOINT"].rsplit(":", 1)[1])
        for c in (["db", "init"], ["db", "migrate"]):
            sh(INV, *c, env=env, stdout=subprocess.DEVNULL)
        self.connect_db()


