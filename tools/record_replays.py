"""Record the scenarios of tests/recordings/ again, against a fresh sandbox.

    python tools/record_replays.py                 # every scenario
    python tools/record_replays.py read_inbox-unread api-oof

Each scenario (tests/replay_scenarios.py) starts from the demo tenant; a script scenario runs
its script as a subprocess with EWS_RECORD, an API scenario runs its function inside
ews_record.recording(). The command, its settings (no secret), its output and exit code go
into recording.json under "scenario", for the replay tests to compare with.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts"), str(ROOT / "tests")]
RECORDINGS = ROOT / "tests" / "recordings"
SHAPED_ANSWERS = RECORDINGS / "shaped"
SECRET_SETTINGS = ("EWS_PASSWORD", "EWS_CLIENT_SECRET")
DROPPED_SETTINGS = ("EWS_CA_BUNDLE", "EWS_RECORD", "EWS_TOKEN_CACHE")


def base_env(**settings):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EWS_") and k != "REQUESTS_CA_BUNDLE"}
    env.update(settings)
    return env


class Context:
    def __init__(self, sandbox, workdir):
        self.sandbox, self.workdir = sandbox, workdir
        self._account = None

    def account(self):
        from replay_scenarios import api_account
        if self._account is None:
            self._account = api_account(self.sandbox.ews_url)
        return self._account

    def env(self, scenario):
        apps = {app["kind"]: app for app in self.sandbox.apps}
        settings = {"EWS_CA_BUNDLE": self.sandbox.ca_bundle, "EWS_EMAIL": "alice@contoso.example",
                    "EWS_TIMEZONE": "UTC", "EWS_RETRY_MAX_WAIT": "0", "HOME": str(self.workdir),
                    "EWS_TOKEN_CACHE": str(self.workdir / "tokens.json")}
        if scenario.mode == "sandbox":
            settings.update(EWS_SANDBOX_URL=self.sandbox.ews_url, EWS_PASSWORD="demo-password")
        else:
            settings.update(EWS_AUTH=scenario.mode, EWS_SERVICE_ENDPOINT=self.sandbox.ews_url)
            if scenario.mode in ("basic", "ntlm"):
                settings.update(EWS_USERNAME="alice@contoso.example" if scenario.mode == "basic" else "SANDBOX\\alice",
                                EWS_PASSWORD="demo-password")
            else:
                settings.update(EWS_AUTHORITY_HOST=self.sandbox.authority_url, EWS_TENANT_ID=self.sandbox.tenant_id,
                                EWS_TOKEN_RESOURCE="https://outlook.office365.com")
                app = apps["confidential" if scenario.mode == "oauth-app" else "public"]
                settings["EWS_CLIENT_ID"] = app["client_id"]
                if scenario.mode == "oauth-app":
                    settings["EWS_CLIENT_SECRET"] = app["client_secret"]
                if scenario.mode == "oauth-delegated":
                    settings.update(EWS_USERNAME="alice@contoso.example", EWS_PASSWORD="demo-password")
        settings.update(scenario.env)
        return settings

    def run_unrecorded(self, script, *args):
        from replay_scenarios import Script
        env = base_env(**self.env(Script(script, list(args))))
        subprocess.run([sys.executable, str(ROOT / "scripts" / script), *args], env=env, cwd=self.workdir,
                       check=True, capture_output=True, timeout=120)


def record_script(name, scenario, sandbox, admin_call):
    target = RECORDINGS / name
    shutil.rmtree(target, ignore_errors=True)
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        ctx = Context(sandbox, work)
        values = scenario.setup(ctx) if scenario.setup else {}
        args = [arg.format(**values) if "{" in arg else arg for arg in scenario.args]
        for file_name, text in scenario.files.items():
            (work / file_name).write_text(text)
        for fault in scenario.faults:
            admin_call("POST", "faults", fault)
        settings = ctx.env(scenario)
        env = base_env(**settings, EWS_RECORD=str(target))
        command = [sys.executable, str(ROOT / "scripts" / scenario.script), *args]
        if scenario.mode == "msal-device-code":
            result = run_device_code(command, env, work, admin_call)
        else:
            result = subprocess.run(command, env=env, cwd=work, capture_output=True, text=True, timeout=300)
        admin_call("DELETE", "faults")
    from ews_record import read_index, write_index
    index = read_index(target)
    kept = {k: v for k, v in settings.items() if k not in DROPPED_SETTINGS + ("HOME",)}
    for secret in SECRET_SETTINGS:
        if secret in kept:
            kept[secret] = "{" + secret.lower() + "}"
    index["scenario"] = {
        "kind": "script", "about": scenario.about,
        "provenance": "recorded from the ews_sandbox with scripts/ews_record.py (tools/record_replays.py)",
        "script": scenario.script, "args": args, "env": kept, "files": scenario.files,
        "exit_code": result.returncode, "stdout": result.stdout.replace(str(work), "{workdir}"), "stderr_last_line": last_line(result.stderr),
    }
    write_index(target, index)
    print(f"{name}: exit {result.returncode}, {len(index['exchanges'])} exchanges; {last_line(result.stderr)}")


def run_device_code(command, env, work, admin_call):
    """The device code flow: read the code from stderr and approve it as the user, as a person would."""
    import re
    process = subprocess.Popen(command, env=env, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in process.stderr:
        seen.append(line)
        code = re.search(r"enter the code (\w+)", line)
        if code:
            admin_call("POST", "device-codes/approve", {"user_code": code.group(1), "email": env["EWS_EMAIL"]})
            break
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(command, process.returncode, stdout, "".join(seen) + stderr)


def last_line(text):
    lines = [line for line in text.splitlines() if line.startswith("ews: ") and "using the local EWS sandbox" not in line]
    return lines[-1] if lines else ""


def record_api(name, function, sandbox):
    from ews_record import read_index, recording, write_index
    from replay_scenarios import api_account
    target = RECORDINGS / name
    shutil.rmtree(target, ignore_errors=True)
    account = api_account(sandbox.ews_url)
    with recording(target):
        result = function(account)
    index = read_index(target)
    index["scenario"] = {"kind": "api", "about": function.__doc__.strip(), "function": function.__name__,
                         "provenance": "recorded from the ews_sandbox with scripts/ews_record.py "
                                       "(tools/record_replays.py)",
                         "result": json.loads(json.dumps(result, default=str))}
    write_index(target, index)
    print(f"{name}: {len(index['exchanges'])} exchanges, result {result}")


def shape(name, source, operation, answer):
    """Copy a recorded scenario and put Microsoft's documented error answer in place of one exchange;
    the exchanges after it are dropped (the client stops there)."""
    from ews_record import read_index, write_index
    target = RECORDINGS / name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(RECORDINGS / source, target)
    index = read_index(target)
    position = next(i for i, e in enumerate(index["exchanges"]) if e["operation"] == operation)
    for entry in index["exchanges"][position + 1:]:
        for key in ("request", "response"):
            if entry.get(key):
                (target / entry[key]).unlink()
    index["exchanges"] = index["exchanges"][:position + 1]
    entry = index["exchanges"][position]
    shaped = (SHAPED_ANSWERS / answer).read_text()
    status = 500 if "Fault>" in shaped else 200
    entry.update(status=status, reason="Internal Server Error" if status == 500 else "OK")
    (target / entry["response"]).write_text(shaped)
    index["scenario"].update(
        provenance=f"recorded from the ews_sandbox ({source}); the {operation} answer is shaped after the examples "
                   f"of Microsoft's EWS reference (tests/recordings/shaped/{answer}), written anew",
        exit_code=None, stdout=None, stderr_last_line=None)
    write_index(target, index)
    print(f"{name}: shaped from {source}, {operation} answered by {answer}")


def main(names):
    from ews_sandbox import Sandbox
    from replay_scenarios import API, SCRIPTS, SHAPED
    import requests
    chosen = names or list(SCRIPTS) + list(API) + list(SHAPED)
    with tempfile.TemporaryDirectory() as state, Sandbox(db_path=Path(state) / "s.db", seed="demo") as sandbox:
        session = requests.Session()
        session.headers["X-Admin-Token"] = sandbox.admin_token

        def admin_call(method, path, body=None):
            answer = session.request(method, f"{sandbox.base_url}/_sandbox/{path}", json=body, verify=sandbox.ca_bundle)
            answer.raise_for_status()
            return answer.json()

        from exchangelib.protocol import BaseProtocol
        from ews_sandbox.tls import trusting_adapter
        BaseProtocol.HTTP_ADAPTER_CLS = trusting_adapter(sandbox.ca_bundle)
        for name in chosen:
            admin_call("POST", "reset", {"seed": "demo"})
            if name in SCRIPTS:
                record_script(name, SCRIPTS[name], sandbox, admin_call)
            elif name in API:
                record_api(name, API[name], sandbox)
        for name in chosen:
            if name in SHAPED:
                shape(name, *SHAPED[name])


if __name__ == "__main__":
    main(sys.argv[1:])
