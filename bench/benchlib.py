"""Shared set-up of the Python benchmarks (bench/collect, bench/api): a
private stack on free ports, the fake AWS with the benchmark's layout, a
config with AWS credentials for it, and a worker; all stopped on exit.
Stack: the same private stack without the fake AWS (bench/ingest,
bench/hosts), with Stack.consume to time a consumer until it drained its
stream and measure the CPU it, PostgreSQL and Redis used (CpuMeter)."""
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


_HZ = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU seconds a process has used; None once it is gone."""
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(f[11]) + int(f[12])) / _HZ


def _machine_busy():
    """Seconds all CPUs of the machine were busy since boot (not idle, not
    waiting for I/O)."""
    v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(v) - v[3] - v[4]) / _HZ


def postgres_pids(stack_dir):
    """The postmaster of the stack in stack_dir and its children."""
    try:
        pm = int((Path(stack_dir) / "pg" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return []
    pids = [pm]
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pm:
                    pids.append(int(d.name))
            except (OSError, ValueError, IndexError):
                pass
    return pids


class CpuMeter:
    """CPU seconds of groups of processes over an interval, and how busy the
    whole machine was, so that a benchmark shows whether it filled the
    cores and where their time went:

        m = CpuMeter({"consumer": lambda: [pid], "PostgreSQL": lambda: postgres_pids(d)})
        ... ; used = m.stop()   # {"consumer": s, ..., "all": s, "machine": s, "wall": s}

    Processes are sampled at the start, at each sample() and at stop(); one
    started in between counts whole, one that ended counts up to the last
    sample that saw it (sample often when processes come and go)."""

    def __init__(self, groups):
        self.groups = groups
        self.t0 = time.monotonic()
        self.busy0 = _machine_busy()
        self.seen = {}  # pid -> (group, CPU when first seen (0 if started since), CPU now)
        self.sample(start=True)

    def sample(self, start=False):
        for name, pids in self.groups.items():
            for pid in pids():
                if pid not in self.seen:
                    self.seen[pid] = (name, cpu_seconds(pid) if start else 0.0, 0.0)
                c = cpu_seconds(pid)
                if c is not None:
                    g, first, _ = self.seen[pid]
                    self.seen[pid] = (g, first, c)

    def stop(self):
        self.sample()
        used = {name: 0.0 for name in self.groups}
        for g, first, last in self.seen.values():
            used[g] += max(0.0, last - (first or 0.0))
        used["all"] = sum(used.values())
        used["machine"] = _machine_busy() - self.busy0
        used["wall"] = time.monotonic() - self.t0
        return used


def cpu_report(used, messages):
    """Two lines: where the CPU went, and the rate that CPU per message
    allows on this machine's cores at full use."""
    cores = os.cpu_count() or 1
    parts = ", ".join(f"{k} {used[k]:.1f} s" for k in used if k not in ("all", "machine", "wall"))
    per = used["all"] / messages
    return (f"   CPU: {parts}: {used['all']:.1f} s in {used['wall']:.2f} s of {cores} cores "
            f"({100 * used['all'] / (cores * used['wall']):.0f}%; the whole machine "
            f"{100 * used['machine'] / (cores * used['wall']):.0f}% busy)\n"
            f"   {1e6 * per:.1f} us of CPU per message: {cores} cores at full use allow at most "
            f"{cores / per:.0f} msgs/s"), cores / per


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

    def consume(self, who, args, done, timeout, log="consumer.log"):
        """Starts `inventory <args>` (a consumer) and waits until done();
        returns (the process, seconds from its start, CPU used meanwhile by
        it, PostgreSQL and Redis: CpuMeter.stop()). Exits naming who when the
        consumer exits or timeout seconds pass first."""
        import redis  # noqa: E402 (python3-redis, installed by bootstrap)
        redis_pid = int(redis.Redis(host="127.0.0.1", port=self.redis_port)
                        .info("server")["process_id"])
        consumer = []  # started after the meter: counted whole
        meter = CpuMeter({"consumer": lambda: consumer,
                          "PostgreSQL": lambda: postgres_pids(self.dir),
                          "Redis": lambda: [redis_pid]})
        t0 = time.monotonic()
        c = self.start(*args, log=log)
        consumer.append(c.pid)
        sampled = t0
        while not done():
            if c.poll() is not None:
                sys.exit(f"{who}: the consumer exited ({c.returncode}); see {self.dir / log}")
            if time.monotonic() - t0 > timeout:
                sys.exit(f"{who}: not drained after {timeout:.0f} s")
            if time.monotonic() - sampled > 1:
                meter.sample()  # PostgreSQL's backends may come and go
                sampled = time.monotonic()
            time.sleep(0.02)
        return c, time.monotonic() - t0, meter.stop()


