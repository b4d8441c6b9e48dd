"""Property-based (hypothesis): every script, any of its arguments, any settings. Never a
traceback; always exit 0, 1 or 2; a failure is one line; and on exit 2 (bad usage or
configuration) nothing in the mailbox changed.

The scripts run in this process (main(argv)), against the session's sandbox, so that many
examples fit in a short run; the arguments are drawn from each script's own parser.
EWS_PROPERTY_EXAMPLES sets the examples per script (CI: 12)."""
import collections
import contextlib
import io
import os
import re
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ALICE, BOB, PASSWORD

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
sys.path.insert(0, str(SCRIPTS))
import ews_cli  # noqa: E402

NAMES = sorted(p.stem for p in SCRIPTS.glob("*.py") if "__main__" in p.read_text())
EXAMPLES = int(os.environ.get("EWS_PROPERTY_EXAMPLES", "12"))
COUNTS = {"runs": 0, "exit": {0: 0, 1: 0, 2: 0}}
REASONS = collections.Counter()  # EWS_PROPERTY_WHY=1: the commonest refusals (exit 2), to tune the strategies

PLAUSIBLE = st.sampled_from(["", " ", "Inbox", "Inbox/Projects", "/", "Sent Items", ALICE, BOB, "bob@", "7d", "12h",
                     "2026-03-01", "2026-03-01T09:30", "9999-12-31", "0", "-1", "3", "1000", "received", "-size",
                     "subject,from", "AAMkAGI2", "missing.txt", "-", "ids.json", "report.txt", ".", "Finance"])
VALUES = st.one_of(PLAUSIBLE, PLAUSIBLE, st.text(st.characters(blacklist_categories=("Cs",)), max_size=12))
# Values that fit a flag, by its dest: most runs then get past the checks to the server.
FITTING = {"sender": [ALICE, BOB], "recipient": [BOB], "to": [BOB], "cc": [ALICE], "bcc": [BOB], "reply_to": [BOB],
           "since": ["7d", "2026-01-01"], "until": ["2099-01-01"], "folder": ["Inbox", "Sent Items"],
           "to_folder": ["Inbox/Done"], "limit": ["5"], "chunk_size": ["2"], "subject": ["Report", "x"],
           "body": ["hello"], "name": ["Seen"], "value": ["yes"], "out": ["out"], "file": ["report.txt"],
           "attach": ["report.txt"], "set": ["Finance"], "add": ["Finance"], "category": ["Finance"],
           "fields": ["subject,from"], "order": ["-received", "subject"], "new_subject": ["Re"],
           "env_file": ["settings.env"], "body_file": ["report.txt"], "id": ["AAMkAGI2"]}
# Mostly settings that work (so that runs reach the server, and some are refused there), else anything.
WORKING = st.fixed_dictionaries({}, optional={
    "EWS_AUTH": st.sampled_from(["sandbox", "basic", "ntlm", "oauth-app", "oauth-delegated"]),
    "EWS_EMAIL": st.sampled_from([ALICE, BOB]),
    "EWS_PASSWORD": st.sampled_from([PASSWORD, PASSWORD, "wrong"]),
    "EWS_RETRY_MAX_WAIT": st.sampled_from(["0", "2"]),
    "EWS_TIMEZONE": st.sampled_from(["Europe/Paris", "Asia/Tokyo"]),
    "EWS_VERSION": st.sampled_from(["15.1.2507.6"]),
    "EWS_ACCESS_TYPE": st.sampled_from(["delegate", "impersonation"]),
})
ANY = st.fixed_dictionaries({}, optional={
    "EWS_AUTH": st.sampled_from(["sandbox", "basic", "ntlm", "oauth-app", "oauth-delegated", "kerberos", " BASIC "]),
    "EWS_EMAIL": st.sampled_from([ALICE, BOB, "nobody@contoso.example", "not-an-address", ""]),
    "EWS_PASSWORD": st.sampled_from([PASSWORD, "wrong", ""]),
    "EWS_RETRY_MAX_WAIT": st.sampled_from(["0", "2", "-1", "soon"]),
    "EWS_TIMEOUT": st.sampled_from(["1", "30", "0", "later"]),
    "EWS_TIMEZONE": st.sampled_from(["Europe/Paris", "Asia/Tokyo", "Mars/Olympus", "../etc", ""]),
    "EWS_VERSION": st.sampled_from(["15.1.2507.6", "2016", "15"]),
    "EWS_MAX_CONNECTIONS": st.sampled_from(["1", "2", "0", "many"]),
    "EWS_ACCESS_TYPE": st.sampled_from(["delegate", "impersonation", "owner"]),
    "EWS_INSECURE_TLS": st.sampled_from(["false", "maybe"]),
    "EWS_CA_BUNDLE": st.sampled_from(["/nowhere/ca.pem", "/etc/hostname"]),
    "EWS_DEBUG": st.sampled_from(["false", "1"]),
})
SETTINGS = st.one_of(WORKING, WORKING, WORKING, ANY)


def parser_of(name):
    """The script's ArgumentParser, as its main() builds it."""
    module = __import__(name)
    made = []
    original = ews_cli.parser

    def recording(description):
        made.append(original(description))
        return made[-1]

    ews_cli.parser = recording
    try:
        with contextlib.redirect_stdout(io.StringIO()), pytest.raises(SystemExit):
            module.main(["--help"])
    finally:
        ews_cli.parser = original
    return module, made[-1]


@st.composite
def command_lines(draw, parser):
    argv = []
    for action in parser._actions:
        if not action.option_strings:  # the positional action name
            argv.append(draw(st.sampled_from(list(action.choices))) if action.choices else draw(VALUES))
            continue
        if action.dest in ("help", "debug") or not draw(st.integers(0, 3)) == 0:  # a quarter of the flags
            continue
        flag = action.option_strings[-1]
        if action.dest == "flow":  # the interactive flows wait for a person (the sandbox plays one only when embedded)
            continue
        if action.nargs == 0:
            argv.append(flag)
        elif action.choices:
            argv += [flag, draw(st.one_of(st.sampled_from(list(action.choices)), VALUES))]
        elif action.dest in FITTING:
            argv += [flag, draw(st.one_of(st.sampled_from(FITTING[action.dest]), VALUES))]
        else:
            argv += [flag, draw(VALUES)]
    return argv


def run_in_process(module, argv, env, cwd):
    """(exit code, stdout, stderr) of module.main(argv) with `env` as the EWS_* settings."""
    saved = dict(os.environ)
    for key in [k for k in os.environ if k.startswith("EWS_")]:
        del os.environ[key]
    os.environ.update(env)
    out, err, here = io.StringIO(), io.StringIO(), os.getcwd()
    from exchangelib import Message
    from exchangelib.protocol import BaseProtocol, close_connections
    adapter, registered = BaseProtocol.HTTP_ADAPTER_CLS, {field.name for field in Message.FIELDS}
    close_connections()  # each run builds its own protocol, with its own retry policy
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            sys.stdin = io.StringIO("")
            try:
                code = module.main(argv)
            except SystemExit as leaving:
                code = leaving.code if isinstance(leaving.code, int) else (0 if leaving.code is None else 2)
    finally:
        os.chdir(here)
        sys.stdin = sys.__stdin__
        os.environ.clear()
        os.environ.update(saved)
        BaseProtocol.HTTP_ADAPTER_CLS = adapter
        for name in {field.name for field in Message.FIELDS} - registered:  # the scripts' own properties
            Message.deregister(name)
        import logging
        logging.getLogger().handlers.clear()  # --debug / EWS_DEBUG set up a handler on our stderr
    return code, out.getvalue(), err.getvalue()


WRITES = {"CreateItem", "UpdateItem", "DeleteItem", "MoveItem", "CopyItem", "SendItem", "ArchiveItem",
          "CreateFolder", "UpdateFolder", "DeleteFolder", "CreateAttachment", "DeleteAttachment", "MarkAsJunk",
          "UpdateInboxRules", "SetUserOofSettingsRequest"}


@pytest.mark.parametrize("name", NAMES)
def test_any_arguments_and_settings(name, sandbox, admin, tmp_path_factory):
    module, parser = parser_of(name)
    cwd = tmp_path_factory.mktemp(name)
    (cwd / "report.txt").write_text("a report\n")
    (cwd / "ids.json").write_text("[]")
    (cwd / "settings.env").write_text(f"EWS_EMAIL={ALICE}\n")
    (cwd / "settings.env").chmod(0o600)
    admin.reset("empty")
    base = {"EWS_SANDBOX_URL": sandbox.ews_url, "EWS_SERVICE_ENDPOINT": sandbox.ews_url,
            "EWS_CA_BUNDLE": sandbox.ca_bundle, "EWS_AUTHORITY_HOST": sandbox.authority_url,
            "EWS_TENANT_ID": sandbox.tenant_id, "EWS_TOKEN_RESOURCE": "https://outlook.office365.com",
            "EWS_TOKEN_CACHE": str(cwd / "tokens.json"), "EWS_RETRY_MAX_WAIT": "0"}
    app = next(a for a in sandbox.apps if a["kind"] == "confidential")
    base.update(EWS_CLIENT_ID=app["client_id"], EWS_CLIENT_SECRET=app["client_secret"], EWS_USERNAME=ALICE)

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(argv=command_lines(parser), env=SETTINGS)
    def check(argv, env):
        if name == "setup_oauth_delegated_msal":
            argv = argv + ["--flow", "password"]
        if "--duration" in parser._option_string_actions:  # runs until told to stop: a short, bounded run
            argv = bounded(argv, parser)
        if env.get("EWS_AUTH", "sandbox").strip().lower() == "sandbox" or "EWS_AUTH" not in env:
            env = {**env, "EWS_AUTH": "sandbox"}  # never the embedded sandbox: it would start one per run
        admin.clear_requests()
        code, out, err = run_in_process(module, argv, {**base, **env}, cwd)
        COUNTS["runs"] += 1
        COUNTS["exit"][code] = COUNTS["exit"].get(code, 0) + 1
        if code == 2 and os.environ.get("EWS_PROPERTY_WHY"):
            REASONS[re.sub(r"'[^']*'|\S+@\S+|\d+", "…", err.strip().splitlines()[-1])[:70]] += 1
        assert code in (0, 1, 2), (argv, env, code, err)
        assert "Traceback" not in err, (argv, env, err)
        failures = [line for line in err.splitlines() if line.startswith("ews: ") and not _informative(line)]
        if code == 2:
            assert len(failures) == 1 and "warning" not in failures[0], (argv, env, err)
        if code == 1:  # one line, beside those naming each element that failed
            assert len([line for line in failures if not line.startswith(("ews: failed: ", "ews: --id "))]) <= 1 \
                and err.strip(), (argv, env, err)
        if code == 2:
            changed = [e["operation"] for e in admin.requests() if e["operation"] in WRITES]
            assert changed == [], (argv, env, changed)

    check()
    print(f"\n{name}: {COUNTS}" + (f"\n{REASONS.most_common(6)}" if REASONS else ""))


BOUNDS = {"--duration": "0.5", "--linger": "0"}  # what ends a listening script's run, and when


def bounded(argv, parser):
    """argv without drawn --duration/--linger values (a large one would hold the suite), with short ones."""
    kept, drop = [], False
    for value in argv:
        if drop:
            drop = False
        elif value in BOUNDS:
            drop = True
        else:
            kept.append(value)
    return kept + [part for flag, value in BOUNDS.items() if flag in parser._option_string_actions
                   for part in (flag, value)]


def _informative(line):
    """Lines beside the one failure line: progress, warnings, the sandbox note, per-element failures."""
    return PROGRESS.fullmatch(line) is not None or line.startswith(
        ("ews: warning", "ews: WARNING", "ews: using the local"))


PROGRESS = re.compile(r"ews: [a-z ]+ \d+ of \d+")  # "ews: moved 100 of 2000"
