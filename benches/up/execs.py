#!/usr/bin/env python3
"""The programs a process started itself, from `strace -f -e trace=execve,clone,clone3,fork,vfork`.

    execs.py STRACE_OUTPUT      (prints one argv per line)

A cross-check of the fakes' call log: it also sees programs that are not faked. The first
pid of the trace is the process; its threads (clones with CLONE_THREAD) count as it;
every other clone of it is a child, whose first successful execve is what it started.
"""
import re
import sys

lines = open(sys.argv[1]).read().splitlines()
root = int(lines[0].split()[0])
clones = []  # (parent, flags, child) in the order they returned
execs = []  # (pid, argv) of successful execve calls, in order
pending_clone, pending_exec = {}, {}
clone_re = re.compile(r"^(\d+) +(?:clone3?|fork|vfork)\((.*?)(?:\) += (\d+)| <unfinished \.\.\.>)$")
clone_resumed = re.compile(r"^(\d+) +<\.\.\. (?:clone3?|fork|vfork) resumed>.*= (\d+)$")
exec_re = re.compile(r'^(\d+) +execve\("[^"]*", \[(.*?)\](?:, [^<]*)?(?:\) += (-?\d+).*| <unfinished \.\.\.>)$')
exec_resumed = re.compile(r"^(\d+) +<\.\.\. execve resumed>.*= (-?\d+)")
argv_of = lambda text: re.findall(r'"((?:[^"\\]|\\.)*)"', text)
for line in lines:
    if m := clone_re.match(line):
        pid, flags, child = int(m.group(1)), m.group(2), m.group(3)
        if child is None:
            pending_clone[pid] = flags
        else:
            clones.append((pid, flags, int(child)))
    elif m := clone_resumed.match(line):
        pid = int(m.group(1))
        clones.append((pid, pending_clone.pop(pid, ""), int(m.group(2))))
    elif m := exec_re.match(line):
        pid, argv, rc = int(m.group(1)), argv_of(m.group(2)), m.group(3)
        if rc is None:
            pending_exec[pid] = argv
        elif rc == "0":
            execs.append((pid, argv))
    elif m := exec_resumed.match(line):
        pid = int(m.group(1))
        argv = pending_exec.pop(pid, [])
        if m.group(2) == "0":
            execs.append((pid, argv))
me = {root}  # the process and its threads
parent = {}
for pid, flags, child in clones:
    if pid in me and "CLONE_THREAD" in flags:
        me.add(child)
    else:
        parent[child] = pid
seen = set()
for pid, argv in execs:
    if pid not in me and parent.get(pid) in me and pid not in seen:
        seen.add(pid)
        print(" ".join(argv))
