"""How the scripts are laid out for a reader who copies one: ews_config.py stays configuration
(no mail, calendar or other domain code), each script names the files it needs, and a script
copied with exactly those files into an empty folder runs against a server."""
import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ALICE, PASSWORD

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
ENTRY_POINTS = sorted(p.stem for p in SCRIPTS.glob("*.py") if "__main__" in p.read_text())

# What doing a job with exchangelib looks like: QuerySet and folder calls, bulk calls, item methods
# (names that dicts, paths or adapters share, such as get, exists or send, are left out).
DOMAIN_CALLS = {
    "filter", "exclude", "only", "order_by", "values_list", "view", "people",
    "fetch", "bulk_create", "bulk_update", "bulk_delete", "bulk_move", "bulk_copy", "bulk_send", "bulk_archive",
    "send_and_save", "reply", "reply_all", "forward", "soft_delete", "move_to_trash",
    "attach", "sync_items", "sync_hierarchy", "subscribe_to_pull", "subscribe_to_push", "subscribe_to_streaming",
    "get_events", "get_streaming_events", "accept", "decline", "tentatively_accept", "cancel",
    "resolve_names", "expand_dl", "get_free_busy_info", "walk", "glob", "tree",
}
# exchangelib's item and folder classes: building one is domain code.
DOMAIN_CLASSES = {
    "Message", "CalendarItem", "Contact", "DistributionList", "Task", "Folder", "Q", "FileAttachment",
    "ItemAttachment", "HTMLBody", "Body", "Mailbox", "Attendee", "ExtendedProperty", "OofSettings", "Rule",
}


def local_imports(name, seen=None):
    """The modules of scripts/ that `name` imports, directly or through another of them."""
    seen = set() if seen is None else seen
    for node in ast.walk(ast.parse((SCRIPTS / f"{name}.py").read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
        for module in names:
            if module and (SCRIPTS / f"{module}.py").is_file() and module not in seen:
                seen.add(module)
                local_imports(module, seen)
    return seen


def named_in_docstring(name):
    docstring = ast.get_docstring(ast.parse((SCRIPTS / f"{name}.py").read_text())) or ""
    line = next((line for line in docstring.splitlines() if line.startswith("Copy with:")), "")
    return set(re.findall(r"(\w+)\.py", line))


def test_ews_config_holds_no_domain_code():
    tree = ast.parse((SCRIPTS / "ews_config.py").read_text())
    called = {node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
              for node in ast.walk(tree) if isinstance(node, ast.Call)}
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert not called & DOMAIN_CALLS, f"ews_config.py does a job: {sorted(called & DOMAIN_CALLS)}; move it to a script"
    assert not (called | imported) & DOMAIN_CLASSES, \
        f"ews_config.py builds items: {sorted((called | imported) & DOMAIN_CLASSES)}; move it to a script"
    assert not local_imports("ews_config"), "ews_config.py must copy alone: it imports no other module of scripts/"


def test_the_checker_sees_domain_code():
    # the names the check above looks for are what a mail listing is made of
    source = 'folder.filter(is_read=False).only("subject").order_by("-datetime_received")'
    calls = {node.func.attr for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Call)}
    assert calls == {"filter", "only", "order_by"} <= DOMAIN_CALLS


@pytest.mark.parametrize("script", ENTRY_POINTS)
def test_each_script_names_the_files_it_needs(script):
    needed = local_imports(script)
    assert "ews_config" in needed
    assert named_in_docstring(script) == needed, (
        f"{script}.py imports {sorted(needed)} from scripts/; its docstring's 'Copy with:' line must name exactly those")


def copy_alone(script, folder):
    for name in {script} | named_in_docstring(script):
        shutil.copy(SCRIPTS / f"{name}.py", folder / f"{name}.py")
    return folder / f"{script}.py"


def run_copied(path, sandbox, *args):
    """The copied script against the sandbox as against any on-premises server: basic auth to an
    endpoint, trusting its CA; nothing of the bundle on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EWS_") and k != "PYTHONPATH"}
    env.update(EWS_AUTH="basic", EWS_SERVICE_ENDPOINT=sandbox.ews_url, EWS_CA_BUNDLE=sandbox.ca_bundle,
               EWS_EMAIL=ALICE, EWS_PASSWORD=PASSWORD)
    return subprocess.run([sys.executable, str(path), *args], cwd=path.parent, env=env, capture_output=True,
                          text=True, timeout=120)


# One script of each of three domains, and the setup script a new user copies first.
COPIED = {
    "read_inbox": ["--limit", "3", "--json"],
    "calendar_view": ["--from", "2026-03-02", "--to", "2026-03-08", "--timezone", "Europe/Berlin", "--json"],
    "oof": ["show", "--json"],
    "setup_basic_auth": ["--json"],
}


@pytest.mark.parametrize("script", sorted(COPIED))
def test_a_script_copied_with_its_named_files_runs(script, sandbox, tmp_path):
    result = run_copied(copy_alone(script, tmp_path), sandbox, *COPIED[script])
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and result.stdout.lstrip()[:1] in "[{"
    assert sorted(p.name for p in tmp_path.glob("*.py")) == sorted(f"{n}.py" for n in {script} |
                                                                    named_in_docstring(script))
