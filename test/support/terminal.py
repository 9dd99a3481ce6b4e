#!/usr/bin/env python3
"""Runs a command on a terminal of its own, as a shell in an SSH session runs it, and hangs that terminal up.

The command starts in a new session on a new pseudo-terminal (its standard input, output and error), which is
its controlling terminal. Everything it prints there is copied to this script's standard output. A line
"hangup" on this script's standard input closes the terminal's master side: the kernel then sends SIGHUP to the
command (and its foreground process group), and every later read or write on the terminal fails with EIO, as when
an SSH connection drops. Once the command has exited, or WAIT_SECONDS after the hangup (when it is killed), the
last line printed is {"exit": CODE} or {"signal": NUMBER}, or {"killed": true}. SIGTERM to this script kills the
command (SIGKILL) before it exits itself: a test that gave up leaves no process behind.

Usage: terminal.py WAIT_SECONDS COMMAND [ARG...]   (test tooling: no input is ever sent to the command)
"""
import json
import os
import pty
import select
import signal
import sys
import time


def main():
    wait_seconds = float(sys.argv[1])
    command = sys.argv[2:]
    pid, master = pty.fork()
    if pid == 0:
        os.execvp(command[0], command)
    signal.signal(signal.SIGTERM, lambda *_: stop(pid))
    is_hung_up = False
    control = sys.stdin.fileno()
    while not is_hung_up:
        readable, _, _ = select.select([master, control], [], [], 1.0)
        if master in readable:
            try:
                data = os.read(master, 65536)
            except OSError:
                data = b''
            if data:
                sys.stdout.buffer.write(data)
                sys.stdout.flush()
        if control in readable:
            line = sys.stdin.readline()
            if line == '' or line.strip() == 'hangup':
                is_hung_up = True
        finished, status = os.waitpid(pid, os.WNOHANG)
        if finished:
            report(status)
            return
    os.close(master)
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        finished, status = os.waitpid(pid, os.WNOHANG)
        if finished:
            report(status)
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    print(json.dumps({'killed': True}), flush=True)


def stop(pid):
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except OSError:
        pass
    sys.exit(1)


def report(status):
    if os.WIFEXITED(status):
        print(json.dumps({'exit': os.WEXITSTATUS(status)}), flush=True)
    else:
        print(json.dumps({'signal': os.WTERMSIG(status)}), flush=True)


if __name__ == '__main__':
    main()
