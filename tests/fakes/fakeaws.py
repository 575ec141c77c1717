"""Start and drive the fake AWS (tests/fakes/fakeaws.c) from Python tests,
benchmarks and scripts. See docs/fakeaws.md for what it serves.

    import sys; sys.path.insert(0, str(ROOT / "tests" / "fakes"))
    from fakeaws import FakeAWS, fakeaws_bin

    with FakeAWS(fakeaws_bin(), accounts=2, regions=3, instances_per_subnet=10) as fake:
        fake.url                      # "http://127.0.0.1:PORT"
        fake.config["totals"]         # GET /_fake/config: expected counts
        fake.keys(2)                  # ("AKIAFAKE100000000002", "fakesecret100000000002")
        fake.add_fault(kind="throttle", service="ec2", count=2)
        fake.stats()["actions"]["ec2.DescribeInstances"]   # {"200": n, "503": m}
        fake.reset()                  # no faults, zeroed stats

Keyword arguments become flags (instances_per_subnet=10 -> --instances-per-subnet 10;
a list repeats the flag, True is a bare flag). stop() (or leaving the `with`)
sends SIGTERM, waits, and raises if the process failed or a sanitizer
reported anything on its stderr.
"""

import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

ACCOUNT_BASE = 100000000000
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer",
                     "ERROR: UndefinedBehaviorSanitizer")


def fakeaws_bin():
    """The fake next to the inventory binary under test (INVENTORY_BIN), else
    the sanitizer build, else the release build."""
    root = Path(__file__).resolve().parents[2]
    if os.environ.get("INVENTORY_BIN"):
        return Path(os.environ["INVENTORY_BIN"]).parent / "tests" / "fakes" / "fakeaws"
    for build in ("san", "rel"):
        cand = root / "build" / build / "tests" / "fakes" / "fakeaws"
        if cand.exists():
            return cand
    return root / "build" / "san" / "tests" / "fakes" / "fakeaws"


def account_id(n):
    return f"{ACCOUNT_BASE + n:012d}"


class FakeAWS:
    def __init__(self, binary=None, args=(), **flags):
        self.binary = Path(binary or fakeaws_bin())
        self.args = [str(a) for a in args]
        for k, v in flags.items():
            name = "--" + k.replace("_", "-")
            for one in (v if isinstance(v, (list, tuple)) else [v]):
                if one is True:
                    self.args.append(name)
                elif one is not False and one is not None:
                    self.args += [name, str(one)]
        self.proc = None
        self.port = None
        self._dir = None
        self._config = None

    # --- lifecycle ---------------------------------------------------------

    def start(self, timeout=15):
        if not self.binary.exists():
            raise FileNotFoundError(f"{self.binary} not built (make unit-bins)")
        self._dir = tempfile.TemporaryDirectory(prefix="fakeaws-")
        d = Path(self._dir.name)
        port_file = d / "port"
        self.stderr_path = d / "stderr"
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [str(self.binary), "--listen", "127.0.0.1:0", "--port-file", str(port_file), *self.args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._err)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if port_file.exists() and port_file.read_text().endswith("\n"):
                self.port = int(port_file.read_text())
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"fakeaws exited with {self.proc.returncode}: {self.stderr()}")
            time.sleep(0.02)
        self.proc.kill()
        raise RuntimeError(f"fakeaws did not start within {timeout}s: {self.stderr()}")

    def stop(self, timeout=15):
        """SIGTERM, wait; returns the exit status. Raises on a non-zero exit or
        a sanitizer report."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError("fakeaws did not stop on SIGTERM")
        self._err.close()
        err = self.stderr()
        rc = self.proc.returncode
        self.proc = None
        self._dir.cleanup()
        if any(m in err for m in SANITIZER_MARKERS):
            raise AssertionError(f"sanitizer report from fakeaws:\n{err[-6000:]}")
        if rc != 0:
            raise AssertionError(f"fakeaws exited with {rc}:\n{err[-3000:]}")
        return rc

    def stderr(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- helpers -----------------------------------------------------------

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @staticmethod
    def keys(account=1):
        """(access key id, secret) of account n (1-based)."""
        a = account_id(account)
        return f"AKIAFAKE{a}", f"fakesecret{a}"

    def control(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + "/_fake/" + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{method} /_fake/{path}: {e.code} {e.read()!r}") from None

    @property
    def config(self):
        if self._config is None:
            self._config = self.control("GET", "config")
        return self._config

    def stats(self, reset=False):
        return self.control("DELETE" if reset else "GET", "stats")

    def add_fault(self, **rule):
        return self.control("POST", "faults", rule)["faults"]

    def clear_faults(self):
        return self.control("DELETE", "faults")

    def reset(self):
        return self.control("POST", "reset", {})

    def expire_credentials(self):
        return self.control("DELETE", "credentials")

    def count(self, action, status=None):
        """Requests seen for "svc.Action" (all statuses, or one)."""
        row = self.stats()["actions"].get(action, {})
        return row.get(str(status), 0) if status is not None else sum(row.values())
