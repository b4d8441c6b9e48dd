"""The evals of evals/evals.json: the file is complete, a command that does nothing fails
every check, near misses fail theirs, and check.py works from the command line (each
solution passing its check: test_eval_solutions.py, a file apart so that pytest-xdist
runs the two halves side by side).

The checks share the session's sandbox, reset to the demo tenant before each one
(check.py alone starts a fresh sandbox per run)."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

BUNDLE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BUNDLE / "evals"))
import check as evals  # noqa: E402
import warm_start  # noqa: E402
import checks  # noqa: E402

SPECS = evals.load_evals()
AREAS = {"mail", "calendar", "contacts", "rules", "oof", "sync", "notifications", "auth", "testing"}
DO_NOTHING = [sys.executable, "-c", "pass"]


def test_the_eval_file_is_complete():
    assert len(SPECS) >= 20
    assert [s["id"] for s in SPECS] == list(range(1, len(SPECS) + 1))
    assert sorted(s["name"] for s in SPECS) == sorted(checks.CHECKS), "each eval needs one check, each check one eval"
    assert {s["area"] for s in SPECS} == AREAS
    for spec in SPECS:
        assert spec["prompt"] and spec["expected_output"] and spec["expectations"], spec["name"]
        assert all((BUNDLE / name).is_file() for name in spec["files"]), spec["name"]
        # every request is answered by a script of the bundle, run as a user would
        script = re.match(r"\{python\} \{scripts\}/(\w+\.py)( |$)", spec["solution"])
        assert script and (BUNDLE / "scripts" / script[1]).is_file(), spec["name"]


def test_doing_nothing_fails_every_eval(sandbox):
    passed = [spec["name"] for spec in SPECS
              if not evals.check(spec, DO_NOTHING, sandbox=sandbox, popen=warm_start.popen)]
    assert passed == []


# Near misses: what a plausible but wrong program does; each check must catch it.
NEAR_MISSES = [
    ("reply-to-message", "{scripts}/send_email.py --to bob@contoso.example --subject 'RE: Lunch Friday?' "
                         "--body 'Yes, 12:30 works for me.'", "not a reply"),
    ("list-unread-from", "{scripts}/read_inbox.py --from bob@contoso.example", "'Invoice A-102'"),
    ("categorize-add", "{scripts}/manage_messages.py categorize --subject invoice --set Finance", "'Customers', 'Finance'"),
    ("delete-to-trash", "{scripts}/manage_messages.py delete --subject 'You won a prize' --mode hard",
     "Deleted Items holds 0"),
    ("recurring-weekly", "{scripts}/create_calendar_event.py --subject 'Team sync' --start 2027-03-15T08:00 "
                         "--end 2027-03-15T08:30 --repeat weekly --count 10 --timezone UTC",
     "not on Monday 09:00-09:30 Berlin"),  # the times read in UTC
    ("survive-throttling", "{scripts}/manage_messages.py mark-read --from ci@build.example", "exited 1"),
]
NEAR_MISS_ENV = {"survive-throttling": {"EWS_RETRY_MAX_WAIT": "0"}}


@pytest.mark.parametrize("name, command, failure", NEAR_MISSES, ids=[m[0] for m in NEAR_MISSES])
def test_a_near_miss_fails(name, command, failure, sandbox):
    spec = dict(evals.find_eval(name))
    spec["env"] = {**spec.get("env", {}), **NEAR_MISS_ENV.get(name, {})}
    failures = evals.check(spec, evals.solution_command({"solution": "{python} " + command}), sandbox=sandbox,
                           popen=warm_start.popen)
    assert any(failure in line for line in failures), failures


def test_the_command_line(tmp_path):
    """check.py alone: its own sandbox, a program named relative to the caller's folder."""
    (tmp_path / "nothing.py").write_text("pass\n")
    script = [sys.executable, str(BUNDLE / "evals" / "check.py")]
    failed = subprocess.run([*script, "save-draft", "--", sys.executable, "nothing.py"], capture_output=True,
                            text=True, cwd=tmp_path, timeout=120)
    spec = evals.find_eval("save-draft")
    assert (failed.returncode, failed.stdout.splitlines()) == (1, [
        f"FAIL {spec['id']} save-draft", "  - alice's Drafts has 0 messages 'Contract draft', not 1"]), failed.stderr
    unknown = subprocess.run([*script, "no-such-eval", "--", *DO_NOTHING], capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and "no eval 'no-such-eval'" in unknown.stderr
