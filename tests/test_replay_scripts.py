"""Every script replayed offline from tests/recordings/, with the network shut (the EWS_REPLAY hook
of scripts/ews_record.py refuses every internet connection in the script's process): the same
output and exit code as when it was recorded against the sandbox, every recorded exchange asked
for, none more; and Exchange's error answers turned into the scripts' one-line errors.

A new scenario: an entry in tests/replay_scenarios.py SCRIPTS, `python tools/record_replays.py NAME`,
and one line in SCENARIOS below."""
import json
import re
from pathlib import Path

import pytest

from replay_scenarios import no_network, replay_script  # noqa: F401 - no_network: every test here runs offline

RECORDINGS = Path(__file__).resolve().parent / "recordings"
SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
NOT_ASKED = "recorded exchange(s) not asked for"

# scenario, exit code, a fragment of the last stderr line, the least seconds the script must wait
# between an answer asking it to (ErrorServerBusy's BackOffMilliseconds, Retry-After) and its retry
SCENARIOS = [
    ("read_inbox-unread", 0, None, 0),
    ("read_inbox-bodies", 0, None, 0),
    ("send_email-plain", 0, None, 0),
    ("send_email-draft-attachment", 0, None, 0),
    ("reply_forward-reply", 0, None, 0),
    ("reply_forward-forward", 0, None, 0),
    ("manage_messages-move", 0, None, 0),
    ("manage_messages-mark-read-dry-run", 0, None, 0),
    ("attachments-list", 0, None, 0),
    ("attachments-download", 0, None, 0),
    ("attachments-attach", 0, None, 0),
    ("tag_messages-tag", 0, None, 0),
    ("tag_messages-find", 0, None, 0),
    ("create_calendar_event-weekly-meeting", 0, None, 0),
    ("calendar_view-fortnight", 0, None, 0),
    ("respond_meeting-accept", 0, None, 0),
    ("free_busy-three", 0, None, 0),
    ("setup_basic_auth-basic", 0, None, 0),
    ("setup_oauth_client_credentials-app", 0, None, 0),
    ("setup_oauth_delegated_msal-password", 0, None, 0),
    ("setup_oauth_delegated_msal-device-code", 0, None, 0),
    ("contacts-expand", 0, None, 0),
    ("inbox_rules-create", 0, None, 0),
    ("oof-schedule", 0, None, 0),
    ("sync_mailbox-first", 0, None, 0),
    ("pull_notifications-poll", 0, None, 0),
    ("pull_notifications-until-timeout", 1, "ews: no new-mail event within 2 s", 0),
    ("push_listener-subscribe", 0, None, 0),
    ("sync_streaming-no-such-folder", 2, "there is no folder 'Nowhere' in 'Inbox'", 0),
    ("import_messages-eml", 0, None, 0),
    ("errors-server-busy-backoff", 0, None, 0.7),
    ("errors-server-busy-gives-up", 1, "the server is throttling", 0),
    ("errors-access-denied", 1, "ErrorAccessDenied", 0),
    ("errors-non-existent-mailbox", 1, "ErrorNonExistentMailbox", 0),
    ("errors-item-not-found", 1, "ErrorItemNotFound", 0),
    ("errors-quota-exceeded", 1, "ErrorQuotaExceeded", 0),
    ("errors-soap-fault", 1, "ErrorSchemaValidation", 0),
    ("errors-http-401", 1, "the server refused the credentials", 0),
    ("errors-http-403-ews-disabled", 1, "HTTP 403: EWS is blocked", 0),
    ("errors-http-503", 1, "HTTP 503", 0),
    ("errors-http-503-retried", 0, None, 1.0),
]


def recording(name):
    return json.loads((RECORDINGS / name / "recording.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name, code, message, wait", SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_a_script_replays_offline_as_recorded(name, code, message, wait, tmp_path):
    scenario = recording(name)["scenario"]
    result = replay_script(RECORDINGS / name, tmp_path, EWS_REPLAY_LOG=str(tmp_path / "replay.json"))
    timeline = json.loads((tmp_path / "replay.json").read_text())["timeline"]
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == code, result.stderr
    assert NOT_ASKED not in result.stderr, result.stderr
    if scenario["exit_code"] is not None:  # recorded from the sandbox: the same output as then
        assert result.returncode == scenario["exit_code"]
        assert result.stdout == scenario["stdout"].replace("{workdir}", str(tmp_path))
    errors = [line for line in result.stderr.splitlines() if line.startswith("ews: ") and "replay" not in line]
    if message:
        assert errors and message in errors[-1], result.stderr
        if scenario.get("stderr_last_line"):
            assert errors[-1] == scenario["stderr_last_line"]
    if wait:  # the answer that asked for a wait, then the retry: at least that much later
        statuses = [(entry["status"], open_answer(name, entry)) for entry in recording(name)["exchanges"]]
        asked = next(i for i, (status, text) in enumerate(statuses) if status == 503 or "ErrorServerBusy" in text)
        names = [served for served, _ in timeline]
        assert names == sorted(names) and len(names) == len(statuses)  # every answer, in the recorded order
        gap = timeline[asked + 1][1] - timeline[asked][1]
        assert gap >= wait, timeline


def open_answer(name, entry):
    return (RECORDINGS / name / entry["response"]).read_text() if entry.get("response") else ""


def test_every_script_has_a_replayed_scenario():
    scripts = {path.name for path in SCRIPTS.glob("*.py") if 'if __name__ == "__main__"' in path.read_text()}
    replayed = {recording(name)["scenario"]["script"] for name, *_ in SCENARIOS}
    assert scripts - replayed == set(), "record a scenario for each (tests/replay_scenarios.py, tools/record_replays.py)"


def test_every_recorded_script_scenario_is_replayed():
    recorded = {path.parent.name for path in RECORDINGS.glob("*/recording.json")
                if json.loads(path.read_text())["scenario"]["kind"] == "script"}
    assert recorded == {name for name, *_ in SCENARIOS}


def test_a_request_the_recording_lacks_fails_with_a_diff(tmp_path):
    """The same scenario asked differently (--limit 4 instead of 5): the script fails, naming the
    closest recorded request and showing the difference."""
    directory = RECORDINGS / "read_inbox-unread"
    data = recording("read_inbox-unread")
    data["scenario"]["args"] = ["--unread", "--limit", "4", "--json"]
    altered = tmp_path / "altered"
    altered.mkdir()
    for path in directory.iterdir():
        (altered / path.name).write_bytes(path.read_bytes())
    (altered / "recording.json").write_text(json.dumps(data))
    work = tmp_path / "work"
    work.mkdir()
    result = replay_script(altered, work)
    assert result.returncode != 0
    assert "holds no answer to this FindItem request" in result.stderr
    assert "closest recording: 0004-FindItem" in result.stderr
    assert re.search(r'^-\s+m:IndexedPageItemView .*MaxEntriesReturned="5"', result.stderr, re.M), result.stderr
    assert re.search(r'^\+\s+m:IndexedPageItemView .*MaxEntriesReturned="4"', result.stderr, re.M)


def test_a_replayed_script_cannot_reach_the_network(tmp_path):
    """A recording whose settings name a real host: nothing is resolved or connected; the request
    fails inside the process."""
    import os
    import subprocess
    import sys
    probe = ("import sys; sys.path.insert(0, %r); import ews_config, ews_record, socket\n"
             "ews_record.install(ews_config.load_settings())\n"
             "try:\n    socket.create_connection(('127.0.0.1', 9), timeout=2)\nexcept OSError as e:\n    print(e)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EWS_")}
    env["EWS_REPLAY"] = str(RECORDINGS / "read_inbox-unread")
    result = subprocess.run([sys.executable, "-c", probe % str(SCRIPTS)], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert "network access blocked during replay" in result.stdout, result.stderr
