#!/usr/bin/env python3
"""Check a candidate program against one eval of evals.json.

    python evals/check.py ID -- COMMAND...        (ID: the eval's number or name)
    python evals/check.py --list

Starts a fresh sandbox (a temporary database with the demo tenant), seeds what the eval
needs, runs COMMAND once in an empty temporary folder (holding the eval's `files`) with
the settings the bundle's scripts read: EWS_SANDBOX_URL, EWS_CA_BUNDLE, EWS_EMAIL
(alice@contoso.example), EWS_PASSWORD, EWS_TIMEZONE (Europe/Berlin), plus the eval's own
`env`. A program named by a relative path ending in .py is found from the current folder.
Then it judges the sandbox's state, read through exchangelib and the admin API, and the
command's output. Prints PASS, or FAIL and one line per unmet expectation.
Exit 0 pass, 1 fail, 2 usage. --verbose shows the command's stdout and stderr.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

EVALS = Path(__file__).resolve().parent
BUNDLE = EVALS.parent
ALICE, BOB, CAROL, DAVE = (f"{name}@contoso.example" for name in ("alice", "bob", "carol", "dave"))
PASSWORD = "demo-password"
TIMEZONE = "Europe/Berlin"


def load_evals():
    return json.loads((EVALS / "evals.json").read_text())["evals"]


def find_eval(key):
    for spec in load_evals():
        if str(spec["id"]) == str(key) or spec["name"] == key:
            return spec
    raise KeyError(key)


def solution_command(spec, python=sys.executable):
    """The eval's own solution as an argument list ({python}, {scripts} and {evals} filled in)."""
    import shlex
    text = spec["solution"]
    for name, value in (("{python}", python), ("{scripts}", BUNDLE / "scripts"), ("{evals}", EVALS)):
        text = text.replace(name, shlex.quote(str(value)))
    return shlex.split(text)


class CannotStart(Exception):
    pass


class Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


class Context:
    """What a check sees: the sandbox, accounts on it, the admin API, the candidate's run."""

    def __init__(self, spec, sandbox, command, workdir, timeout=120, popen=subprocess.Popen):
        import requests
        self.spec, self.sandbox, self.command, self.workdir = spec, sandbox, command, Path(workdir)
        self.popen = popen
        self.timeout = spec.get("timeout", timeout)
        self.failures, self.runs, self._accounts, self.last = [], [], {}, None
        self.admin_session = requests.Session()
        self.admin_session.trust_env = False  # no proxy or REQUESTS_CA_BUNDLE from the environment: loopback
        self.admin_session.headers["X-Admin-Token"] = sandbox.admin_token
        self.app = next(app for app in sandbox.apps if app["kind"] == "confidential")
        values = {"ews_url": sandbox.ews_url, "ca_bundle": sandbox.ca_bundle, "authority": sandbox.authority_url,
                  "tenant_id": sandbox.tenant_id, "client_id": self.app["client_id"],
                  "client_secret": self.app["client_secret"], "workdir": str(self.workdir)}
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("EWS_") and k != "REQUESTS_CA_BUNDLE"}
        self.env.update(EWS_SANDBOX_URL=sandbox.ews_url, EWS_CA_BUNDLE=sandbox.ca_bundle, EWS_EMAIL=ALICE,
                        EWS_PASSWORD=PASSWORD, EWS_TIMEZONE=TIMEZONE)
        for name, value in spec.get("env", {}).items():  # null removes a setting
            if value is None:
                self.env.pop(name, None)
            else:
                self.env[name] = value.format(**values)
        for name in spec.get("files", []):
            (self.workdir / Path(name).name).write_bytes((BUNDLE / name).read_bytes())

    # ---- the sandbox ----
    def account(self, email=ALICE):
        """An exchangelib Account of a demo user (one per check: folder ids change with each tenant)."""
        from exchangelib import BASIC, DELEGATE, Account, Build, Configuration, Credentials, FailFast, Version
        if email not in self._accounts:
            config = Configuration(credentials=Credentials(email, PASSWORD), service_endpoint=self.sandbox.ews_url,
                                   auth_type=BASIC, retry_policy=FailFast(), version=Version(Build(15, 1, 2507, 6)))
            self._accounts[email] = Account(email, config=config, autodiscover=False, access_type=DELEGATE,
                                            default_timezone=self.zone)
        return self._accounts[email]

    @property
    def zone(self):
        from exchangelib import EWSTimeZone
        return EWSTimeZone(TIMEZONE)

    def admin(self, method, path, body=None):
        answer = self.admin_session.request(method, f"{self.sandbox.base_url}/_sandbox/{path}", json=body,
                                            verify=self.sandbox.ca_bundle, timeout=30)
        answer.raise_for_status()
        return answer.json()

    def requests(self):
        """The request log since the candidate started (the check's own requests included after it)."""
        return self.admin("GET", "requests")

    # ---- the candidate ----
    def run(self, wait=True):
        """Runs the candidate command once; with wait=False returns the running Popen."""
        if not self.runs:
            self.admin("DELETE", "requests")  # the log then shows the candidate's requests first
        try:
            process = self.popen(self.command, cwd=self.workdir, env=self.env, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        except OSError as error:  # no such program
            raise CannotStart(f"the command cannot start: {error}")
        self.runs.append(process)
        return self.finish(process) if wait else process

    def finish(self, process, timeout=None):
        try:
            stdout, stderr = process.communicate(timeout=timeout or self.timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            self.fail(f"the command did not finish within {timeout or self.timeout} s")
        result = Result(process.returncode, stdout, stderr)
        self.last = result
        return result

    # ---- expectations ----
    def fail(self, message):
        self.failures.append(message)

    def expect(self, condition, message):
        if not condition:
            self.fail(message)
        return bool(condition)

    def expect_success(self, result):
        return self.expect(result.returncode == 0, f"the command exited {result.returncode}, not 0"
                           + (f": {result.stderr.strip().splitlines()[-1]}" if result.stderr.strip() else ""))

    def expect_output(self, result, *texts, absent=()):
        output = result.stdout + result.stderr
        for text in texts:
            self.expect(text.casefold() in output.casefold(), f"the output does not mention {text!r}")
        for text in absent:
            self.expect(text.casefold() not in output.casefold(), f"the output mentions {text!r}, which it should not")


def check(spec, command, sandbox=None, verbose=False, popen=subprocess.Popen):
    """Runs one eval; returns the list of failures (empty: pass). With `sandbox`, that
    running sandbox is reset to the demo tenant first (the tests share one). `popen` starts
    the command (the tests pass one that forks it from a Python with exchangelib imported)."""
    import checks
    with tempfile.TemporaryDirectory(prefix=f"eval-{spec['name']}-") as folder:
        if sandbox is None:
            from ews_sandbox import Sandbox
            with Sandbox(db_path=Path(folder) / "sandbox.db", seed="demo") as fresh:
                return _check(spec, command, fresh, folder, verbose, checks, popen)
        sandbox.reset("demo")
        sandbox.faults.clear()
        return _check(spec, command, sandbox, folder, verbose, checks, popen)


def _check(spec, command, sandbox, folder, verbose, checks, popen):
    from exchangelib.protocol import BaseProtocol, close_connections
    from ews_sandbox.tls import trusting_adapter
    BaseProtocol.HTTP_ADAPTER_CLS = trusting_adapter(sandbox.ca_bundle)
    close_connections()
    workdir = Path(folder) / "work"
    workdir.mkdir()
    ctx = Context(spec, sandbox, command, workdir, popen=popen)
    try:
        checks.CHECKS[spec["name"]](ctx)
    except CannotStart as error:
        ctx.fail(str(error))
    except Exception as error:  # noqa: BLE001 - a check that cannot read the state fails the eval
        ctx.fail(f"the check stopped: {type(error).__name__}: {error}")
    finally:
        for process in ctx.runs:
            if process.poll() is None:
                process.kill()
                process.communicate()
    if verbose and ctx.last:
        print(f"--- exit {ctx.last.returncode}\n--- stdout\n{ctx.last.stdout}--- stderr\n{ctx.last.stderr}", file=sys.stderr)
    return ctx.failures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 2)[2],
                                     usage="check.py [--verbose] ID -- COMMAND...  |  check.py --list",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", action="store_true", help="list the evals")
    parser.add_argument("--verbose", action="store_true", help="show the command's output")
    parser.add_argument("id", nargs="?", help="the eval's number or name")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="after --: the program to check and its arguments")
    args = parser.parse_args(argv)
    if args.list:
        for spec in load_evals():
            print(f"{spec['id']:>3}  {spec['area']:<13} {spec['name']:<24} {spec['prompt'][:70]}")
        return 0
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not args.id or not command:
        parser.error("give an eval ID and, after --, the command to check")
    try:
        spec = find_eval(args.id)
    except KeyError:
        parser.error(f"no eval {args.id!r}; see --list")
    # the command runs in a temporary folder: a program (or interpreter, .venv/bin/python) named by
    # a relative path is found from here (not resolved: a venv's python is a symlink that must stay one)
    command = [str(Path(part).absolute()) if (part.endswith(".py") or "/" in part) and Path(part).is_file() else part
               for part in command]
    failures = check(spec, command, verbose=args.verbose)
    print(f"{'FAIL' if failures else 'PASS'} {spec['id']} {spec['name']}")
    for failure in failures:
        print(f"  - {failure}")
    return 1 if failures else 0


sys.path[:0] = [str(EVALS), str(BUNDLE)]
if __name__ == "__main__":
    sys.exit(main())
