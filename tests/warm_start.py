"""Runs the bundle's scripts as subprocesses forked from a Python that has already imported
exchangelib: a script run costs about 1 s of CPU, most of it importing exchangelib, and
the suite runs some 900 of them.

`run(argv, cwd=, env=, input=, timeout=)` answers as `subprocess.run(..., capture_output=True,
text=True)` does; `popen(argv, cwd=, env=)` starts one as `subprocess.Popen(..., stdout=PIPE,
stderr=PIPE, text=True)` does (stdin: /dev/null) and gives an object with the same stdout,
stderr, pid, returncode, poll(), wait(), communicate(), send_signal(), terminate(), kill().
Each script still gets a process of its own, with its argv, environment, working folder,
standard streams and exit code; what differs from a cold start is only that
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
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
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
        returncode = _server_call(_request(argv, cwd, env), [stdin.fileno(), stdout.fileno(), stderr.fileno()], argv, timeout)
        stdout.seek(0)
        stderr.seek(0)
        return subprocess.CompletedProcess(argv, returncode, _text(stdout.read()), _text(stderr.read()))


def popen(argv, *, cwd=None, env=None, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
          text=True):
    """A running script: a WarmProcess, or a subprocess.Popen where the run must start cold."""
    env = dict(os.environ if env is None else env)
    if not (_can_start_warm(argv, env) and stdin == subprocess.DEVNULL and stdout == stderr == subprocess.PIPE
            and text):
        return subprocess.Popen(argv, cwd=cwd, env=env, stdin=stdin, stdout=stdout, stderr=stderr, text=text)
    return WarmProcess(argv, cwd=cwd, env=env)


class WarmProcess:
    """A script forked by the warm-start server, read and signalled as a subprocess.Popen is: its
    stdout and stderr are pipes to this process, the exit status comes over the server's socket."""

    def __init__(self, argv, *, cwd=None, env=None):
        self.args, self.returncode = argv, None
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        null = os.open(os.devnull, os.O_RDONLY)
        request = _request(argv, cwd, dict(os.environ if env is None else env))
        self._connection = socket.socket(socket.AF_UNIX)
        try:
            self._connection.connect(_server_address())
            socket.send_fds(self._connection, [json.dumps(request).encode() + b"\n"], [null, out_write, err_write])
        finally:
            for fd in (null, out_write, err_write):  # the script holds the write ends: EOF when it ends
                os.close(fd)
        self.stdin = None
        self.stdout = open(out_read, "r")  # text as Popen(text=True) reads: locale encoding, universal newlines
        self.stderr = open(err_read, "r")
        self._reply = self._connection.makefile("r")
        self.pid = int(self._reply.readline().split()[1])
        self._status, self._ended, self._output = None, threading.Event(), None
        threading.Thread(target=self._wait_for_exit, daemon=True).start()

    def _wait_for_exit(self):
        try:
            self._status = int(self._reply.readline().split()[1])
        finally:
            self._ended.set()
            self._connection.close()

    def poll(self):
        if self._ended.is_set():
            self.returncode = self._status
        return self.returncode

    def wait(self, timeout=None):
        if not self._ended.wait(timeout):
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self.poll()

    def communicate(self, input=None, timeout=None):
        if input:
            raise ValueError("a warm-started script reads no standard input")
        if self._output is None:  # read both streams to their end, as Popen.communicate does
            self._output = {}

            def read(stream):
                self._output[stream] = stream.read()
            self._readers = [threading.Thread(target=read, args=(s,), daemon=True) for s in (self.stdout, self.stderr)]
            for reader in self._readers:
                reader.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        for reader in self._readers:
            reader.join(None if deadline is None else max(0, deadline - time.monotonic()))
            if reader.is_alive():
                raise subprocess.TimeoutExpired(self.args, timeout)
        self.wait(None if deadline is None else max(0, deadline - time.monotonic()))
        return self._output[self.stdout], self._output[self.stderr]

    def send_signal(self, sig):
        if self.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:  # ended meanwhile
                pass

    def terminate(self):
        self.send_signal(signal.SIGTERM)

    def kill(self):
        self.send_signal(signal.SIGKILL)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for stream in (self.stdout, self.stderr):
            stream.close()
        self.wait()


def _can_start_warm(argv, env):
    if os.environ.get("EWS_TEST_COLD_START") or len(argv) < 2 or str(argv[0]) != sys.executable:
        return False
    if not str(argv[1]).endswith(".py") or str(argv[1]).startswith("-"):
        return False
    same = ("PYTHONPATH",) + IMPORT_TIME_SETTINGS
    return all(env.get(name) == os.environ.get(name) for name in same) and \
        not any(k.startswith("PYTHON") and env.get(k) != os.environ.get(k) for k in set(env) | set(os.environ))


def _request(argv, cwd, env):
    return {"argv": [str(a) for a in argv], "cwd": str(cwd or os.getcwd()), "env": env}


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
            os.kill(pid, signal.SIGKILL)
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
