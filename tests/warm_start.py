"""Runs the bundle's scripts as subprocesses forked from a Python that has already imported
exchangelib: a script run costs about 1 s of CPU, most of it importing exchangelib, and
the suite runs some 900 of them.

`run(argv, cwd=, env=, input=, timeout=)` answers as `subprocess.run(..., capture_output=True,
text=True)` does. Each script still gets a process of its own, with its argv, environment,
working folder, standard streams and exit code; what differs from a cold start is only that
the third-party modules are already imported. Anything a warm start could answer differently
runs cold: another interpreter or its flags, `-c`, another PYTHONPATH, TMPDIR or user name
(exchangelib fixes its autodiscover cache's path at import). EWS_TEST_COLD_START=1 runs
every script cold; the tests of start-up itself (--help imports nothing) always do.

The server (this file run as a program) forks a supervisor per request, which forks the
script and reports its pid, then its exit status, over a Unix socket; the script's streams
are files the caller passed along with the request.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

# What the scripts import that costs: imported once, by the server.
PRELOADED = ("exchangelib", "requests", "lxml.etree", "cryptography.x509", "dateutil.rrule", "msal", "cheroot.wsgi")
# Settings read at import time by what is preloaded: a run with other values starts cold.
IMPORT_TIME_SETTINGS = ("TMPDIR", "TEMP", "TMP", "LOGNAME", "USER", "LNAME", "USERNAME", "LANG", "LC_ALL", "LC_CTYPE")

_server = None
_lock = threading.Lock()


def run(argv, *, cwd=None, env=None, input="", timeout=None, capture_output=True, text=True):
    """A finished script run, as subprocess.CompletedProcess with text stdout and stderr
    (the two flags are there to be a drop-in for subprocess.run's call; they must stay True)."""
    if not (capture_output and text):
        raise ValueError("warm_start.run captures the output as text")
    env = dict(os.environ if env is None else env)
    if not _can_start_warm(argv, env):
        return subprocess.run(argv, cwd=cwd, env=env, input=input, capture_output=True, text=True, timeout=timeout)
    with tempfile.TemporaryFile() as stdin, tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        stdin.write((input or "").encode())
        stdin.seek(0)
        request = {"argv": [str(a) for a in argv], "cwd": str(cwd or os.getcwd()), "env": env}
        returncode = _server_call(request, [stdin.fileno(), stdout.fileno(), stderr.fileno()], argv, timeout)
        stdout.seek(0)
        stderr.seek(0)
        return subprocess.CompletedProcess(argv, returncode, _text(stdout.read()), _text(stderr.read()))


def _can_start_warm(argv, env):
    if os.environ.get("EWS_TEST_COLD_START") or len(argv) < 2 or str(argv[0]) != sys.executable:
        return False
    if not str(argv[1]).endswith(".py") or str(argv[1]).startswith("-"):
        return False
    same = ("PYTHONPATH",) + IMPORT_TIME_SETTINGS
    return all(env.get(name) == os.environ.get(name) for name in same) and \
        not any(k.startswith("PYTHON") and env.get(k) != os.environ.get(k) for k in set(env) | set(os.environ))


def _text(data):
    # as subprocess.run(text=True) reads a pipe: the locale's encoding (UTF-8 here), universal newlines
    return data.decode().replace("\r\n", "\n")


def _server_call(request, fds, argv, timeout):
    connection = socket.socket(socket.AF_UNIX)
    try:
        connection.connect(_server_address())
        socket.send_fds(connection, [json.dumps(request).encode() + b"\n"], fds)
        connection.settimeout(timeout)
        reply = connection.makefile("r")
        pid = int(reply.readline().split()[1])
        try:
            line = reply.readline()
        except TimeoutError:
            os.kill(pid, 9)
            raise subprocess.TimeoutExpired(argv, timeout) from None
        return int(line.split()[1])
    finally:
        connection.close()


def _server_address():
    global _server
    with _lock:
        if _server is None or _server[0].poll() is not None:
            folder = tempfile.mkdtemp(prefix="ews-warm-")
            address = os.path.join(folder, "socket")
            process = subprocess.Popen([sys.executable, __file__, address], stdout=subprocess.PIPE,
                                       stdin=subprocess.DEVNULL)
            if process.stdout.readline().strip() != b"ready":
                raise RuntimeError("the warm-start server did not start")
            import atexit
            atexit.register(process.kill)
            _server = (process, address)
        return _server[1]


# ---- the server ---------------------------------------------------------------------------

def serve(address):
    import importlib
    import signal
    for name in PRELOADED:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(address)
    listener.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the supervisors reap themselves
    print("ready", flush=True)
    while True:
        connection, _ = listener.accept()
        message, fds, _, _ = socket.recv_fds(connection, 1 << 16, 3)
        while not message.endswith(b"\n"):  # a large environment comes in several pieces
            message += connection.recv(1 << 16)
        if os.fork() == 0:
            listener.close()
            _supervise(connection, json.loads(message), fds)
        connection.close()
        for fd in fds:
            os.close(fd)


def _supervise(connection, request, fds):
    """In the supervisor: start the script, tell its pid, then its exit status."""
    import signal
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    pid = os.fork()
    if pid == 0:
        connection.close()
        _become_script(request, fds)
    for fd in fds:
        os.close(fd)
    connection.sendall(f"pid {pid}\n".encode())
    _, status = os.waitpid(pid, 0)
    connection.sendall(f"exit {os.waitstatus_to_exitcode(status)}\n".encode())
    os._exit(0)


def _become_script(request, fds):
    import atexit
    import io
    import random
    import runpy
    import signal
    import time
    for target, fd in zip((0, 1, 2), fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()
    random.seed()  # not the server's sequence, shared by every fork
    tempfile.tempdir = None
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)))
    sys.stderr = io.TextIOWrapper(io.BufferedWriter(io.FileIO(2, "w", closefd=False)), errors="backslashreplace",
                                  line_buffering=True)
    script = request["argv"][1]
    sys.argv = request["argv"][1:]
    sys.path[0] = str(Path(script).resolve().parent)
    code = 0
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as leaving:
        code = _exit_code(leaving.code)
    except KeyboardInterrupt:
        code = -signal.SIGINT  # below: die of it, as Python does
    except BaseException:
        import traceback
        traceback.print_exc()
        code = 1
    finally:
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        if code == -signal.SIGINT:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        os._exit(code)


def _exit_code(value):
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    print(value, file=sys.stderr)
    return 1


if __name__ == "__main__":
    serve(sys.argv[1])
