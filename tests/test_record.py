"""The recorder against the sandbox: a script's session recorded with EWS_RECORD replays offline
with the same output, and a recording made in any sign-in mode holds no secret and, with
EWS_RECORD_PSEUDONYMS=1, no original address, name, subject or body."""
import json
import re
import sys
from pathlib import Path

import pytest

from conftest import ALICE, PASSWORD
import warm_start
from ews_sandbox.seed import DEMO_USERS, SUBJECTS
from replay_scenarios import replay_script
from test_setup_scripts import SETUP, apps, real_env, sign_in  # noqa: F401 - fixtures

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


@pytest.fixture
def demo(admin):
    admin.clear_faults()
    admin.reset("demo")
    yield admin
    admin.reset("empty")


def record(script, args, env, directory, cwd):
    return warm_start.run([sys.executable, str(SCRIPTS / script), *args], cwd=cwd, capture_output=True, text=True,
                          env={**env, "EWS_RECORD": str(directory)}, timeout=120)


@pytest.mark.parametrize("script, args", [
    ("read_inbox.py", ["--since", "400d", "--body", "--limit", "4", "--json"]),
    ("manage_messages.py", ["categorize", "--subject", "budget", "--add", "Finance", "--json"]),
])
def test_a_recorded_session_replays_offline_with_the_same_output(script, args, sandbox, demo, tmp_path):
    from test_mail_scripts import base_env
    settings = {"EWS_SANDBOX_URL": sandbox.ews_url, "EWS_EMAIL": ALICE, "EWS_TIMEZONE": "UTC"}
    env = base_env(**settings, EWS_CA_BUNDLE=sandbox.ca_bundle, EWS_PASSWORD=PASSWORD)
    recorded = tmp_path / "recording"
    live = record(script, args, env, recorded, tmp_path)
    assert live.returncode == 0 and live.stdout.strip(), live.stderr
    index = json.loads((recorded / "recording.json").read_text())
    assert {"FindItem"} <= {e["operation"] for e in index["exchanges"]}
    index["scenario"] = {"kind": "script", "script": script, "args": args,
                         "env": {**settings, "EWS_PASSWORD": "{ews_password}"}}
    (recorded / "recording.json").write_text(json.dumps(index))
    demo.reset("empty")  # the sandbox no longer holds those messages: only the recording can answer
    work = tmp_path / "replay"
    work.mkdir()
    replayed = replay_script(recorded, work)
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout == live.stdout
    assert "not asked for" not in replayed.stderr


def recorded_text(directory):
    return "\n".join(path.read_text(errors="replace") for path in sorted(directory.iterdir())
                     if path.is_file() and path.name not in (".pseudonym-key", ".gitignore"))


@pytest.mark.parametrize("mode", list(SETUP))
def test_no_secret_and_no_personal_data_survives_a_recording_in_any_mode(mode, real_env, apps, admin, demo, tmp_path):
    directory = tmp_path / "recording"
    extra = {"EWS_RECORD": str(directory), "EWS_RECORD_PSEUDONYMS": "1"}
    signed_in = sign_in(mode, real_env, admin, **extra)
    assert signed_in.returncode == 0, signed_in.stderr
    read = warm_start.run([sys.executable, str(SCRIPTS / "read_inbox.py"), "--since", "400d", "--body", "--json",
                           "--fields", "from,to,cc,subject"], env=real_env(mode, **extra), cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert read.returncode == 0, read.stderr
    shown = json.loads(read.stdout)
    assert shown and any(row["subject"] for row in shown)
    text = recorded_text(directory)
    index = json.loads((directory / "recording.json").read_text())
    operations = {e["operation"] for e in index["exchanges"]}
    assert {"GetFolder", "FindItem", "GetItem"} <= operations
    if mode.startswith(("oauth", "msal")):
        assert "token" in operations
    # secrets: passwords, client secrets, tokens (msal's cache holds the ones it got), credentials headers
    secrets = [PASSWORD, apps["confidential"]["client_secret"]]
    cache = tmp_path / "tokens.json"
    if cache.exists():
        for kind in ("AccessToken", "RefreshToken", "IdToken"):
            secrets += [entry["secret"] for entry in json.loads(cache.read_text()).get(kind, {}).values()]
    for secret in secrets:
        assert secret not in text
    assert not any("authorization" in {h.lower() for h in e["request_headers"]} for e in index["exchanges"])
    assert not re.search(r"eyJ[\w-]+\.[\w-]+\.(?!\[redacted\])[\w-]{8,}", text), "a signed token"
    assert not re.search(r"(NTLM|Negotiate) [A-Za-z0-9+/]{16,}", text)
    # personal data: the tenant's addresses and names, the messages' subjects and bodies
    originals = ["contoso", "alice", "bob@", "carol@", "dave@"] + [name for _, name in DEMO_USERS]
    originals += [subject for subject, _ in SUBJECTS]
    originals += [body.split("\n")[0][:40] for _, body in SUBJECTS if not body.startswith("{") and "{" not in body[:40]]
    found = [original for original in originals if original.lower() in text.lower()]
    assert found == [], f"left in the recording: {found}"


def test_a_pseudonymized_recording_replays_when_the_command_names_the_pseudonyms(sandbox, demo, tmp_path):
    """Ids, addresses and subjects are replaced the same way in requests and answers, so a
    pseudonymized recording still replays: with the pseudonym of the mailbox as EWS_EMAIL."""
    from test_mail_scripts import base_env
    settings = {"EWS_SANDBOX_URL": sandbox.ews_url, "EWS_EMAIL": ALICE, "EWS_TIMEZONE": "UTC"}
    env = base_env(**settings, EWS_CA_BUNDLE=sandbox.ca_bundle, EWS_PASSWORD=PASSWORD, EWS_RECORD_PSEUDONYMS="1")
    recorded = tmp_path / "recording"
    args = ["--since", "400d", "--body", "--limit", "3", "--json"]
    live = record("read_inbox.py", args, env, recorded, tmp_path)
    assert live.returncode == 0, live.stderr
    text = recorded_text(recorded)
    mailbox = re.search(r"<t:EmailAddress>(user-\w+@example\.net)</t:EmailAddress>", text).group(1)
    index = json.loads((recorded / "recording.json").read_text())
    index["scenario"] = {"kind": "script", "script": "read_inbox.py", "args": args,
                         "env": {**settings, "EWS_EMAIL": mailbox, "EWS_PASSWORD": "{ews_password}"}}
    (recorded / "recording.json").write_text(json.dumps(index))
    work = tmp_path / "replay"
    work.mkdir()
    replayed = replay_script(recorded, work)
    assert replayed.returncode == 0, replayed.stderr
    rows, originals = json.loads(replayed.stdout), json.loads(live.stdout)
    assert len(rows) == len(originals) == 3
    assert all(re.fullmatch(r"(Re: )?Subject [0-9a-f]{6}", row["subject"]) for row in rows), rows
    assert [row["received"] for row in rows] == [row["received"] for row in originals]
    assert {row["id"] for row in rows}.isdisjoint(row["id"] for row in originals)
