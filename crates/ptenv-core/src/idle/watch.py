# Written by ptenv: the idle watcher of a profile with `idle_stop`. It runs beside the
# container's main process (its parent at start) and ends that process, which stops the
# container, once nothing has happened for LIMIT seconds. Activity is any of:
#   - a session: a process started by `docker exec` (`ptenv shell`, `ptenv exec`; its parent is
#     outside the container, so its PPID is 0) or an sshd session process;
#   - Jupyter: a busy kernel, or the server's `last_activity` (its /api/status) within LIMIT;
#   - a GPU of the container in use (NVML's utilisation, when NVML is there).
# It never stops a container while one of these can be seen; it says why it stopped on the
# container's output, which `ptenv logs` shows. It keeps the time of the last activity it saw in
# ACTIVITY_FILE, which `ptenv ls` reads. The facts it relies on: docs/idle-stop.md.
import ctypes
import datetime
import json
import os
import signal
import sys
import time
import urllib.request

LIMIT = int(sys.argv[1])
SHOWN = sys.argv[2]
MAIN = os.getppid()
ME = os.getpid()
TOKEN_FILE = "/etc/ptenv/jupyter/token"
ACTIVITY_FILE = "/etc/ptenv/last-activity"
JUPYTER = "http://127.0.0.1:8888"


def say(text):
    print("ptenv: " + text, flush=True)


def sessions():
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in (ME, 1):
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
            with open("/proc/%s/cmdline" % name, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue  # ended meanwhile
        ppid = int(stat[stat.rfind(")") + 2:].split()[1])
        if ppid == 0:
            found.append("exec: " + cmd)
        elif cmd.startswith("sshd: ") and "[listener]" not in cmd:
            found.append(cmd)
    return found


ANSWERED = [False]


def jupyter_activity(now):
    """A reason the Jupyter server is active, or None; the time of its last activity. Until
    the server first answers it is starting, which is not idleness (a slow start on a busy
    machine can take longer than a short limit)."""
    try:
        with open(TOKEN_FILE) as f:
            token = f.read().strip()
    except OSError:
        return None, None
    headers = {"Authorization": "token " + token}

    def get(path):
        request = urllib.request.Request(JUPYTER + path, headers=headers)
        with urllib.request.urlopen(request, timeout=5) as answer:
            return json.load(answer)

    try:
        # no_track_activity: the watcher's own requests are not activity.
        kernels = get("/api/kernels?no_track_activity=1")
        status = get("/api/status")
    except (OSError, ValueError):
        if not ANSWERED[0]:
            return "Jupyter is starting", now
        return None, None  # going down, or briefly unreachable
    ANSWERED[0] = True
    for kernel in kernels:
        if kernel.get("execution_state") == "busy":
            return "a Jupyter kernel is busy", now
    last = status.get("last_activity")
    if not last:
        return None, None
    when = datetime.datetime.fromisoformat(last.replace("Z", "+00:00")).timestamp()
    return None, when


class Utilization(ctypes.Structure):
    _fields_ = [("gpu", ctypes.c_uint), ("memory", ctypes.c_uint)]


def open_nvml():
    try:
        nvml = ctypes.CDLL("libnvidia-ml.so.1")
        if nvml.nvmlInit_v2() != 0:
            return None
        nvml.nvmlDeviceGetUtilizationRates  # older fakes and drivers may lack it
        return nvml
    except (OSError, AttributeError):
        return None


def gpu_activity(nvml):
    if nvml is None:
        return None
    count = ctypes.c_uint()
    if nvml.nvmlDeviceGetCount_v2(ctypes.byref(count)) != 0:
        return None
    for i in range(count.value):
        handle = ctypes.c_void_p()
        rates = Utilization()
        if nvml.nvmlDeviceGetHandleByIndex_v2(i, ctypes.byref(handle)) != 0:
            continue
        if nvml.nvmlDeviceGetUtilizationRates(handle, ctypes.byref(rates)) != 0:
            continue
        if rates.gpu > 0:
            return "GPU %d is %d%% busy" % (i, rates.gpu)
    return None


def record(when):
    """Makes `when` ACTIVITY_FILE's modification time, which `ptenv ls` reads through the
    engine, and writes it as text for a person (whole seconds since the epoch, ten digits until
    2286, over the start of the file: one small write of a fixed length). The file is made by
    ptenv, owned by the watcher's user (who cannot make files in /etc/ptenv); a container made
    before it had none."""
    try:
        fd = os.open(ACTIVITY_FILE, os.O_WRONLY)
    except OSError:
        return
    try:
        os.pwrite(fd, b"%d\n" % int(when), 0)
        os.utime(fd, (when, when))
    except OSError:
        pass
    finally:
        os.close(fd)


def main():
    nvml = open_nvml()
    every = max(1, min(60, LIMIT // 4))
    last_active = time.time()  # the start: `ptenv up` is activity
    record(last_active)
    recorded = int(last_active)
    while True:
        time.sleep(every)
        now = time.time()
        busy, when = jupyter_activity(now)
        busy = busy or gpu_activity(nvml)
        found = sessions()
        if found:
            busy = busy or ("a session runs (%s)" % found[0])
        if busy:
            last_active = now
        elif when is not None:
            last_active = max(last_active, when)
        if int(last_active) != recorded:
            record(last_active)
            recorded = int(last_active)
        if now - last_active >= LIMIT:
            break
    say("stopped: idle for %s (no session, no Jupyter activity, no GPU use since %s)"
        % (SHOWN, datetime.datetime.fromtimestamp(last_active, datetime.timezone.utc)
           .strftime("%Y-%m-%dT%H:%M:%SZ")))
    os.kill(MAIN, signal.SIGTERM)
    for _ in range(30):
        time.sleep(1)
        try:
            os.kill(MAIN, 0)
        except OSError:
            return
    os.kill(MAIN, signal.SIGKILL)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
