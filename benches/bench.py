#!/usr/bin/env python3
"""ptenv against plain docker (issue #8). Run through ./benches/run.sh, which builds the release
binary and checks the test bed first.

Each pair alternates A and B runs (so drifting load hits both sides alike) and reports the
median of each side and the ratio ptenv/docker. What each row measures, exactly:

- start: `ptenv --version` vs `docker --version`, process spawn to exit.
- pull: the fixture plus a 100 MB random layer (pushed once to the test bed's registry as
  ptenv-bench/pytorch), its tag removed before each run so the layer really downloads.
  docker: `docker pull`, spawn to exit. ptenv has no pull-only command (and gets no hidden
  one); its pull is the first step of `ptenv up`: the time from spawn until ptenv prints
  `Pulled <image>` (profile, GPU detection, engine connect, image lookup, the pull). ptenv is
  then interrupted (Ctrl-C, exit 130) before it builds anything. Peak memory is VmHWM of
  /proc/<pid>/status read at that moment.
- cold start: `ptenv up shell --detach` with both images present and no container, vs
  `docker run -d` of the same derived image with the flags ptenv's container has (shm size,
  ulimits, the project mount, --init, --user, -w): read back with `docker inspect`.
- reuse: `ptenv up shell --detach` on the running environment.
- jupyter: `ptenv up jupyter` until it prints the URL (it then exits), no container before,
  derived image present; vs `docker run -d` of the same derived image with the same flags and
  command, the token in JUPYTER_TOKEN, then polling GET /api/status every 50 ms until 200.
- select: `ptenv select`; doctor: `ptenv doctor --no-container` (no docker counterpart).
- probe: `ptenv inspect IMAGE` the first time (an empty cache dir each run: the probe container
  runs) vs `docker run --rm --network none --entrypoint python3 IMAGE -c 'import torch'`, the
  least a user types to ask the same; then `ptenv inspect` cached (no container). For the torch
  fixture (torch 2.6.0, 5.8 GB) and the small fixture (no torch).
"""

import argparse
import http.client
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

TAG = "2.6.0-cuda12.4-cudnn9-runtime"
# The container user when ptenv runs as root: the project folder's owner (as in the tests).
OWNER = 1000


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def sh(args, check=True, **kw):
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise SystemExit(f"bench: {' '.join(args)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r


def timed(args, env=None, cwd=None):
    """Seconds from spawn to exit; the command must succeed."""
    t0 = time.perf_counter()
    r = subprocess.run(args, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"bench: {' '.join(args)} failed ({r.returncode}):\n{r.stderr}")
    return dt


def spread(samples):
    """`(p25-p75 ms)`: how much a median can be trusted on a shared machine."""
    q = statistics.quantiles(samples, n=4)
    return f"(p25-p75 {q[0] * 1000:.0f}-{q[2] * 1000:.0f} ms)"


class Bench:
    def __init__(self, ptenv, testbed, quick):
        self.ptenv = os.path.abspath(ptenv)
        self.tb = dict(
            line.strip().split("=", 1)
            for line in open(testbed)
            if "=" in line and not line.startswith("#")
        )
        self.quick = quick
        self.root = tempfile.mkdtemp(prefix="ptenv-bench-")
        os.chmod(self.root, 0o755)
        home = os.path.join(self.root, "home")
        os.makedirs(home)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PTENV_")}
        self.env.update(
            HOME=home,
            XDG_CONFIG_HOME=f"{home}/.config",
            XDG_DATA_HOME=f"{home}/.local/share",
            XDG_CACHE_HOME=f"{home}/.cache",
            NO_COLOR="1",
            # pip inside the Jupyter image build (the test bed's CA bundle).
            SSL_CERT_FILE=self.tb["PTENV_TEST_CA_BUNDLE"],
        )
        self.rows = []
        self.notes = []
        self.peak_kb = []

    def project(self, name, yaml):
        d = os.path.join(self.root, name)
        os.makedirs(d)
        with open(os.path.join(d, "ptenv.yaml"), "w") as f:
            f.write(yaml)
        if os.getuid() == 0:
            os.chown(d, OWNER, OWNER)
        # The profiles name the test bed's registry, which ptenv applies only once trusted:
        # trusted once here, as a user would, so that no timed run pays for the question.
        self.run_ptenv(d, "trust")
        return d

    def run_ptenv(self, cwd, *args, check=True):
        r = subprocess.run([self.ptenv, *args], cwd=cwd, env=self.env, capture_output=True, text=True)
        if check and r.returncode != 0:
            raise SystemExit(f"bench: ptenv {' '.join(args)} failed ({r.returncode}):\n{r.stderr}")
        return r

    def containers(self, cwd):
        return sh(["docker", "ps", "-aq", "--filter", f"label=dev.ptenv.project={cwd}"]).stdout.split()

    def rm_containers(self, cwd):
        ids = self.containers(cwd)
        if ids:
            sh(["docker", "rm", "-f", "-v", *ids])

    def record(self, name, a, b, target, check, unit="ms"):
        """a: ptenv samples (s), b: docker samples (s) or None."""
        ma = statistics.median(a)
        mb = statistics.median(b) if b else None
        ratio = ma / mb if mb else None
        met = check(ma, ratio)
        self.rows.append((name, ma, mb, ratio, target, met, len(a)))
        shown = f"ptenv {ma * 1000:.1f} ms {spread(a)}" + (f", docker {mb * 1000:.1f} ms {spread(b)}, ratio {ratio:.3f}" if mb else "")
        log(f"{name}: {shown} ({'met' if met else 'MISSED'}: {target})")

    # --- pairs ----------------------------------------------------------------------------

    def start(self):
        n = 10 if self.quick else 40
        a, b, floor = [], [], []
        for _ in range(n):
            a.append(timed([self.ptenv, "--version"]))
            b.append(timed(["docker", "--version"]))
            floor.append(timed(["/bin/true"]))
        self.record("CLI start (`--version`)", a, b, "ptenv ≤ 5 ms", lambda m, r: m <= 0.005)
        # What any process costs here (fork, exec, the timer's own overhead): the floor under
        # both figures, which load on the machine raises.
        self.notes.append(f"process floor: `/bin/true` takes {statistics.median(floor) * 1000:.1f} ms (median of {n}) in the same loop")

    def pull(self):
        reg = self.tb["PTENV_TEST_REGISTRY"]
        repo = f"{reg}/ptenv-bench/pytorch"
        image = f"{repo}:{TAG}"
        # Pushed once: the fixture plus 100 MB that no other image shares.
        have = sh(["curl", "-sf", "-o", "/dev/null", f"http://{reg}/v2/ptenv-bench/pytorch/manifests/{TAG}"], check=False)
        if have.returncode != 0:
            log(f"pushing {image} (once)")
            ctx = tempfile.mkdtemp(dir=self.root)
            with open(os.path.join(ctx, "Dockerfile"), "w") as f:
                f.write(f"FROM {self.tb['PTENV_TEST_SMALL_IMAGE']}\nRUN head -c 100000000 /dev/urandom > /bench-blob\n")
            sh(["docker", "build", "-q", "-t", image, ctx])
            sh(["docker", "push", "-q", image])
        proj = self.project("pull", f"default: shell\ngpus: none\nrepository: {repo}\n")

        def clean():
            self.rm_containers(proj)
            derived = sh(["docker", "images", "-q", "--filter", f"label=dev.ptenv.derived-from={image}"]).stdout.split()
            if derived:
                sh(["docker", "rmi", "-f", *set(derived)], check=False)
            sh(["docker", "rmi", "-f", image], check=False)

        def ptenv_pull():
            clean()
            t0 = time.perf_counter()
            p = subprocess.Popen([self.ptenv, "up", "--detach"], cwd=proj, env=self.env,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            seen = []
            for line in p.stderr:
                seen.append(line)
                if line.startswith(f"Pulled {image}"):
                    dt = time.perf_counter() - t0
                    with open(f"/proc/{p.pid}/status") as f:
                        hwm = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
                    self.peak_kb.append(hwm)
                    p.send_signal(signal.SIGINT)
                    p.communicate()
                    clean()
                    return dt
            p.wait()
            raise SystemExit("bench: ptenv up ended without `Pulled`:\n" + "".join(seen))

        def docker_pull():
            clean()
            dt = timed(["docker", "pull", "-q", image])
            clean()
            return dt

        n = 3 if self.quick else 11
        a, b = [], []
        for _ in range(n):
            a.append(ptenv_pull())
            b.append(docker_pull())
        self.record("pull, 100 MB layer from 127.0.0.1:5000", a, b, "ratio ≤ 1.05", lambda m, r: r <= 1.05)
        kb = max(self.peak_kb)
        self.rows.append(("peak memory (VmHWM) of ptenv during a pull", kb / 1024, None, None, "≤ 30 MB", kb <= 30 * 1024, len(self.peak_kb)))
        log(f"peak memory during pull: {kb / 1024:.1f} MB")

    def docker_flags(self, cid):
        """The `docker run` flags of a container ptenv made, read back from the engine."""
        c = json.loads(sh(["docker", "inspect", cid]).stdout)[0]
        hc, cfg = c["HostConfig"], c["Config"]
        flags = []
        if hc.get("ShmSize"):
            flags += ["--shm-size", str(hc["ShmSize"])]
        if hc.get("IpcMode") == "host":
            flags += ["--ipc", "host"]
        for u in hc.get("Ulimits") or []:
            flags += ["--ulimit", f"{u['Name']}={u['Soft']}:{u['Hard']}"]
        for bind in hc.get("Binds") or []:
            flags += ["-v", bind]
        if hc.get("Init"):
            flags.append("--init")
        if cfg.get("User"):
            flags += ["--user", cfg["User"]]
        flags += ["-w", cfg["WorkingDir"]]
        return flags, cfg["Image"]

    def cold_and_reuse(self):
        proj = self.project("shell", f"default: shell\ngpus: none\nrepository: {self.tb['PTENV_TEST_SMALL_REPO']}\n")
        log("warming the shell environment (pull, derived build)")
        self.run_ptenv(proj, "up", "--detach")
        flags, image = self.docker_flags(self.containers(proj)[0])
        self.notes.append("cold start docker flags: `docker run -d " + " ".join(flags) + f" {image} sleep infinity`")
        n = 3 if self.quick else 15
        a, b = [], []
        for i in range(n):
            self.rm_containers(proj)
            a.append(timed([self.ptenv, "up", "--detach"], env=self.env, cwd=proj))
            name = f"ptenv-bench-docker-{os.getpid()}-{i}"
            b.append(timed(["docker", "run", "-d", "--name", name, *flags, image, "sleep", "infinity"]))
            sh(["docker", "rm", "-f", "-v", name])
        self.record("cold start, CPU shell (`up --detach` vs `docker run -d`)", a, b, "ratio ≤ 1.10", lambda m, r: r <= 1.10)
        r = [timed([self.ptenv, "up", "--detach"], env=self.env, cwd=proj) for _ in range(5 if self.quick else 30)]
        self.record("reuse (`up --detach` on a running env)", r, None, "≤ 100 ms", lambda m, _: m <= 0.100)
        self.rm_containers(proj)

    def jupyter(self):
        proj = self.project("jupyter", f"gpus: none\nrepository: {self.tb['PTENV_TEST_SMALL_REPO']}\n")
        log("warming the Jupyter environment (derived build with jupyterlab: minutes the first time)")
        out = json.loads(self.run_ptenv(proj, "--json", "up", "jupyter").stdout)
        cid = self.containers(proj)[0]
        flags, image = self.docker_flags(cid)
        token = out["token"]
        port = 18888
        cmd = ["jupyter", "lab", "--ip=0.0.0.0", "--port=8888", "--no-browser", "--ServerApp.root_dir=/workspace"]
        self.notes.append(
            "jupyter docker side: `docker run -d -p 127.0.0.1:18888:8888 -e JUPYTER_TOKEN=… " + " ".join(flags) + f" {image} " + " ".join(cmd) + "`, then GET /api/status every 50 ms"
        )

        def docker_jupyter(i):
            name = f"ptenv-bench-jupyter-{os.getpid()}-{i}"
            t0 = time.perf_counter()
            sh(["docker", "run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8888", "-e", f"JUPYTER_TOKEN={token}", *flags, image, *cmd])
            while True:
                try:
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                    c.request("GET", "/api/status", headers={"Authorization": f"token {token}"})
                    if c.getresponse().status == 200:
                        break
                except (OSError, http.client.HTTPException):
                    pass
                if time.perf_counter() - t0 > 120:
                    raise SystemExit("bench: docker's Jupyter did not answer within 120 s")
                time.sleep(0.05)
            dt = time.perf_counter() - t0
            sh(["docker", "rm", "-f", "-v", name])
            return dt

        n = 3 if self.quick else 7
        a, b = [], []
        for i in range(n):
            self.rm_containers(proj)
            a.append(timed([self.ptenv, "up", "jupyter"], env=self.env, cwd=proj))
            b.append(docker_jupyter(i))
        self.rm_containers(proj)
        self.record("time to a working Jupyter", a, b, "ratio ≤ 1.10", lambda m, r: r <= 1.10)

    def select_doctor(self):
        proj = self.project("plain", f"gpus: none\nrepository: {self.tb['PTENV_TEST_SMALL_REPO']}\n")
        s = [timed([self.ptenv, "select"], env=self.env, cwd=proj) for _ in range(10 if self.quick else 30)]
        self.record("`ptenv select`", s, None, "≤ 20 ms", lambda m, _: m <= 0.020)
        # doctor exits 1 when it finds a broken link (no GPU here): time it whatever it finds.
        d = []
        for _ in range(5 if self.quick else 15):
            t0 = time.perf_counter()
            subprocess.run([self.ptenv, "doctor", "--no-container"], cwd=proj, env=self.env, capture_output=True)
            d.append(time.perf_counter() - t0)
        self.record("`ptenv doctor --no-container`", d, None, "≤ 500 ms", lambda m, _: m <= 0.500)

    def probe(self):
        n = 3 if self.quick else 7
        for label, image in (("torch fixture", self.tb["PTENV_TEST_TORCH_IMAGE"]), ("small fixture", self.tb["PTENV_TEST_SMALL_IMAGE"])):
            proj = self.project(f"probe-{label.split()[0]}", "gpus: none\n")
            docker = ["docker", "run", "--rm", "--network", "none", "--entrypoint", "python3", image, "-c", "import torch"]
            # One of each first: the image's files into the page cache for both sides.
            sh(docker, check=False)
            a, b = [], []
            for i in range(n):
                env = dict(self.env, XDG_CACHE_HOME=os.path.join(self.root, f"probe-cache-{label[0]}-{i}"))
                a.append(timed([self.ptenv, "inspect", image], env=env, cwd=proj))
                t0 = time.perf_counter()
                subprocess.run(docker, capture_output=True)
                b.append(time.perf_counter() - t0)
            self.record(f"probe, first time (`ptenv inspect`, {label})", a, b, "ratio ≤ 1.10", lambda m, r: r <= 1.10)
            env = dict(self.env, XDG_CACHE_HOME=os.path.join(self.root, f"probe-cache-{label[0]}-0"))
            c = [timed([self.ptenv, "inspect", image], env=env, cwd=proj) for _ in range(5 if self.quick else 15)]
            self.record(f"probe, cached (`ptenv inspect`, {label})", c, None, "≤ 50 ms", lambda m, _: m <= 0.050)

    # --- report ---------------------------------------------------------------------------

    def report(self, started, load_before):
        engine = sh(["docker", "version", "--format", "{{.Server.Version}}"]).stdout.strip()
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        print(f"\nDate: {started} UTC; machine: {platform.machine()}, {os.cpu_count()} cores "
              f"(nproc {os.cpu_count()}), {ram:.1f} GiB RAM, {platform.release()}, Docker Engine {engine}")
        print(f"Load average (1 min) before: {load_before:.2f}, after: {os.getloadavg()[0]:.2f}\n")
        print("| what | ptenv | docker | ratio | target | met | runs |")
        print("|---|---|---|---|---|---|---|")
        for name, a, b, ratio, target, met, n in self.rows:
            if "memory" in name:
                pa, pb = f"{a:.1f} MB", "–"
            else:
                pa = f"{a * 1000:.1f} ms"
                pb = f"{b * 1000:.1f} ms" if b else "–"
            pr = f"{ratio:.3f}" if ratio else "–"
            print(f"| {name} | {pa} | {pb} | {pr} | {target} | {'yes' if met else '**no**'} | {n} |")
        print()
        for n in self.notes:
            print(f"- {n}")

    def cleanup(self):
        for d in os.listdir(self.root):
            p = os.path.join(self.root, d)
            if os.path.isdir(p) and os.path.exists(os.path.join(p, "ptenv.yaml")):
                self.rm_containers(p)
        shutil.rmtree(self.root, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ptenv", required=True)
    ap.add_argument("--testbed", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", help="comma-separated: start,pull,cold,jupyter,select,probe")
    args = ap.parse_args()
    only = set(args.only.split(",")) if args.only else {"start", "pull", "cold", "jupyter", "select", "probe"}
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M")
    load_before = os.getloadavg()[0]
    b = Bench(args.ptenv, args.testbed, args.quick)
    try:
        if "start" in only:
            b.start()
        if "select" in only:
            b.select_doctor()
        if "cold" in only:
            b.cold_and_reuse()
        if "pull" in only:
            b.pull()
        if "jupyter" in only:
            b.jupyter()
        if "probe" in only:
            b.probe()
    finally:
        b.cleanup()
    b.report(started, load_before)


if __name__ == "__main__":
    main()
