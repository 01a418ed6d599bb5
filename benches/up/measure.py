#!/usr/bin/env python3
"""Run one command and measure it (benches/up/bench.sh).

    measure.py OUT.json LOG -- PROGRAM ARGS...

Writes {"exit", "wall_s", "self_cpu_s", "tree_cpu_s", "self_peak_rss_kb",
"tree_peak_rss_kb", "start_unix_ms", "end_unix_ms"} to OUT.json; the command's stdout and
stderr go to LOG.

How the program's *own* CPU time and memory are told apart from its children's (the fake
tools it starts), without perf:
* CPU: when the program exits it stays a zombie until reaped. We wait for that with
  waitid(WEXITED | WNOWAIT), read /proc/PID/stat (utime + stime: the whole thread group,
  itself only; cutime + cstime: the children it reaped), then reap it with wait4, whose
  rusage is the program plus every descendant it waited for.
* Memory: VmHWM (the peak resident set of the process itself) from /proc/PID/status,
  sampled every 5 ms while it runs (it only grows, so the last sample is the peak up to
  the last 5 ms). wait4's ru_maxrss is the largest peak of any process in the tree.
"""
import json
import os
import subprocess
import sys
import threading
import time


def proc_stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    # Fields after the command name (which may hold spaces) start at field 3 (state).
    rest = text[text.rindex(")") + 2 :].split()
    tick = os.sysconf("SC_CLK_TCK")
    utime, stime, cutime, cstime = (int(rest[i]) / tick for i in (11, 12, 13, 14))
    return utime + stime, cutime + cstime


def vm_hwm_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def main():
    out_path, log_path = sys.argv[1], sys.argv[2]
    if sys.argv[3] != "--":
        sys.exit("usage: measure.py OUT.json LOG -- PROGRAM ARGS...")
    cmd = sys.argv[4:]
    with open(log_path, "wb") as log:
        start_unix_ms = time.time() * 1000
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        peak = [0]
        done = threading.Event()

        def sample():
            while not done.is_set():
                v = vm_hwm_kb(p.pid)
                if v is not None:
                    peak[0] = max(peak[0], v)
                done.wait(0.005)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)
        wall = time.monotonic() - t0
        end_unix_ms = time.time() * 1000
        done.set()
        sampler.join()
        self_cpu, reaped_children_cpu = proc_stat(p.pid)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
    result = {
        "exit": p.returncode,
        "wall_s": round(wall, 4),
        "self_cpu_s": round(self_cpu, 3),
        "children_cpu_s": round(reaped_children_cpu, 3),
        "tree_cpu_s": round(ru.ru_utime + ru.ru_stime, 3),
        "self_peak_rss_kb": peak[0],
        "tree_peak_rss_kb": ru.ru_maxrss,
        "start_unix_ms": round(start_unix_ms),
        "end_unix_ms": round(end_unix_ms),
    }
    with open(out_path, "w") as f:
        json.dump(result, f)
    sys.exit(0)


if __name__ == "__main__":
    main()
