"""Secrets never leave: in every auth mode, no password, client secret, token or Authorization
value (whole, in part, or URL-encoded) reaches stdout, stderr, the --debug log or an error's
text; token caches and state files are created 0600; a .env others can read gets a warning."""
import base64
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from conftest import ALICE, PASSWORD
import warm_start
from test_setup_scripts import SETUP, apps, real_env, run, sign_in  # noqa: F401 - apps, real_env: fixtures

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
# A secret the redaction patterns cut short: a space, a comma, a brace, and what URL-encoding changes.
AWKWARD = "correct horse,battery}staple&more%plus+quote'shut\"down"


def pieces(secret):
    """The secret, its encoded forms, and its parts between separators (4 characters or more)."""
    whole = {secret, quote(secret, safe=""), quote_plus(secret)}
    return whole | {part for part in re.split(r"[ ,}&%+'\"]", secret) if len(part) >= 4}


def assert_no_secret(output, *secrets):
    for secret in secrets:
        for piece in pieces(secret):
            assert piece not in output, f"{piece[:6]}... of a secret leaked"
    assert not re.search(r"eyJ[\w-]{10,}\.", output), "a token leaked"
    assert not re.search(r"(?i)authorization['\"]?\s*[:=]\s*['\"]?(basic|bearer|ntlm|negotiate) (?!\[redacted\])",
                         output)


def test_redaction_replaces_whole_secrets_before_patterns():
    """Item 8: the patterns stop at a space, a comma or a brace; the literal secrets go first."""
    sys.path.insert(0, str(SCRIPTS))
    import ews_config
    literals = ews_config.secret_forms([AWKWARD])
    for text in (f"{{'username': 'alice', 'password': '{AWKWARD}'}}", f"password={quote_plus(AWKWARD)}&scope=x",
                 f'{{"client_secret": "{AWKWARD}"}}', f"body: grant_type=password&password={quote(AWKWARD, safe='')}",
                 repr({"client_secret": AWKWARD})):  # how requests-oauthlib logs its token request
        redacted = ews_config.redact(text, literals)
        assert_no_secret(redacted, AWKWARD)
        assert "[redacted]" in redacted


MODES = ["basic", "ntlm", "oauth-app", "oauth-delegated", "msal-device-code", "msal-interactive"]


@pytest.mark.parametrize("mode", MODES)
def test_no_secret_leaves_in_any_mode(mode, real_env, apps, admin, clean, tmp_path):
    """Each mode signs in with --debug (the wire log), then fails with an awkward password or
    secret: nothing of either reaches the output, the log or the error line."""
    good = sign_in(mode, real_env, admin, "--debug")
    assert good.returncode == 0, good.stderr[-2000:]
    basic = base64.b64encode(f"{ALICE}:{PASSWORD}".encode()).decode()
    assert_no_secret(good.stdout + good.stderr, PASSWORD, apps["confidential"]["client_secret"], basic)

    wrong = {"EWS_PASSWORD": AWKWARD} if mode in ("basic", "ntlm", "oauth-delegated") else \
        {"EWS_CLIENT_SECRET": AWKWARD} if mode == "oauth-app" else None
    if wrong is None:  # msal modes hold no secret of their own; their token cache is checked below
        cache = tmp_path / "tokens.json"
        assert stat.S_IMODE(cache.stat().st_mode) == 0o600
        return
    bad = run(SETUP[mode], real_env(mode, **wrong), "--debug")
    assert bad.returncode == 1, bad.stderr[-2000:]
    assert_no_secret(bad.stdout + bad.stderr, AWKWARD, PASSWORD)


def test_the_embedded_sandbox_state_is_created_0600(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EWS_")}
    state = tmp_path / "state" / "sandbox.db"
    env.update(HOME=str(tmp_path), EWS_SANDBOX_DB=str(state))
    result = warm_start.run([sys.executable, str(SCRIPTS / "read_inbox.py"), "--limit", "1"], env=env,
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(state.stat().st_mode) == 0o600  # it holds the demo passwords and refresh tokens
    assert stat.S_IMODE(state.parent.stat().st_mode) == 0o700


def test_a_dot_env_others_can_read_gets_a_warning(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("EWS_EMAIL=bob@contoso.example\n")
    args = [sys.executable, str(SCRIPTS / "send_email.py"), "--to", ALICE, "--body", "x", "--dry-run"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("EWS_")}
    env_file.chmod(0o644)
    loose = subprocess.run(args, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert loose.returncode == 0
    assert loose.stderr == f"ews: warning: {env_file} can be read by other users (mode 644); chmod 600 {env_file}\n"
    env_file.chmod(0o600)
    tight = subprocess.run(args, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert tight.returncode == 0 and tight.stderr == ""
