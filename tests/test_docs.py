"""Docs that run: every ```python block of SKILL.md and references/*.md executes
against a freshly seeded sandbox.

The blocks of one file run in order in one namespace, after this preamble:
    account   exchangelib Account of alice@contoso.example (the demo tenant), delegate access
    bob       Account of bob@contoso.example
    demo      the sandbox seen as a tenant: ews_url, ca_bundle, authority, tenant_id,
              app_id and app_secret (app-only), public_app_id (delegated), password,
              admin_token (the sandbox's admin API, for the steps a person would take)
Blocks that sign in themselves use `demo` where real code has its own values; the
sandbox's CA is already trusted (exchangelib's adapter class is set).
A block preceded by `<!-- no-run: reason -->` is shown, not run (a browser sign-in, a
real tenant); such blocks are counted and stay rare.
"""
import re
from pathlib import Path

import pytest

from conftest import ALICE, BOB, PASSWORD

BUNDLE = Path(__file__).resolve().parent.parent
DOCS = [BUNDLE / "SKILL.md", *sorted((BUNDLE / "references").glob("*.md"))]
BLOCK = re.compile(r"(?P<marker><!--\s*no-run:(?P<reason>.*?)-->\s*\n)?```python\n(?P<code>.*?)```", re.S)
COUNTS = {"ran": 0, "skipped": 0}


def python_blocks(path):
    """(line number, code, reason to skip or None) of each python block."""
    text = path.read_text(encoding="utf-8")
    for match in BLOCK.finditer(text):
        line = text.count("\n", 0, match.start("code")) + 1
        reason = match.group("reason").strip() if match.group("marker") else None
        yield line, match.group("code"), reason


@pytest.mark.parametrize("path", [p for p in DOCS if p.exists()], ids=lambda p: p.relative_to(BUNDLE).as_posix())
def test_doc_blocks_run(path, clean, connect, sandbox):
    clean.reset("demo")
    namespace = {"__name__": f"doc:{path.name}", "account": connect(ALICE), "bob": connect(BOB),
                 "demo": demo_tenant(sandbox)}
    for line, code, reason in python_blocks(path):
        if reason is not None:
            assert reason, f"{path.name}:{line}: a no-run marker must give its reason"
            COUNTS["skipped"] += 1
            continue
        try:
            exec(compile(code, f"{path.relative_to(BUNDLE)}:{line}", "exec"), namespace)
        except Exception as error:
            pytest.fail(f"{path.relative_to(BUNDLE)}, block at line {line}: {error.__class__.__name__}: {error}")
        COUNTS["ran"] += 1


def demo_tenant(sandbox):
    apps = {app["kind"]: app for app in sandbox.apps}
    return {"ews_url": sandbox.ews_url, "ca_bundle": sandbox.ca_bundle, "authority": sandbox.authority_url,
            "tenant_id": sandbox.tenant_id, "app_id": apps["confidential"]["client_id"],
            "app_secret": apps["confidential"]["client_secret"], "public_app_id": apps["public"]["client_id"],
            "password": PASSWORD, "admin_token": sandbox.admin_token}


def test_docs_exist_and_have_blocks():
    assert DOCS[0].exists(), "SKILL.md is missing"
    assert sum(1 for path in DOCS if path.exists() for _ in python_blocks(path)) > 0


def test_few_blocks_are_skipped_and_each_says_why():
    blocks = [(path.name, line, reason) for path in DOCS if path.exists() for line, _, reason in python_blocks(path)]
    skipped = [(name, line) for name, line, reason in blocks if reason is not None]
    assert all(reason.strip() for _, _, reason in blocks if reason is not None)
    assert len(skipped) < 0.05 * len(blocks), f"{len(skipped)} of {len(blocks)} blocks are not run: {skipped}"


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def test_links_resolve():
    """Every relative link of SKILL.md, README.md and the references names a file of the bundle,
    and an #anchor a heading of it (GitHub's slugs: lower case, punctuation dropped, spaces to -)."""
    broken = []
    for path in [*DOCS, BUNDLE / "README.md", *BUNDLE.glob("*/README.md"), *BUNDLE.glob("evals/*.md")]:
        for target in LINK.findall(path.read_text(encoding="utf-8")):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            file, _, anchor = target.partition("#")
            linked = (path.parent / file).resolve() if file else path
            if not linked.exists():
                broken.append(f"{path.relative_to(BUNDLE)}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in heading_slugs(linked):
                broken.append(f"{path.relative_to(BUNDLE)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def heading_slugs(path):
    return {slug(heading) for heading in re.findall(r"^#+\s+(.+?)\s*$", path.read_text(encoding="utf-8"), re.M)}


def test_long_references_open_with_contents():
    for path in sorted((BUNDLE / "references").glob("*.md")):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > 150:
            sections = {slug(heading) for heading in re.findall(r"^## (.+?)\s*$", text, re.M)}
            listed = set(re.findall(r"^- \[[^\]]+\]\(#([^)]+)\)", text.split("\n## ", 1)[0], re.M))
            assert listed == sections, f"{path.name} is over 150 lines: list its ## sections at the top (Contents:)"


def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to -."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def test_skill_md_frontmatter_and_size():
    """What a skill loader reads first: a kebab-case name, a description of at most 1024
    characters naming what triggers the skill and that Graph is not its business; a body an
    LLM can hold (under 200 lines) that maps every script and reference."""
    text = DOCS[0].read_text(encoding="utf-8")
    _, frontmatter, body = text.split("---\n", 2)
    fields = dict(line.split(": ", 1) for line in frontmatter.strip().splitlines())
    assert set(fields) == {"name", "description"} and re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", fields["name"])
    description = fields["description"]
    assert len(description) <= 1024, f"the description is {len(description)} characters"
    for trigger in ("EWS", "exchangelib", "on-premises", "Exchange Online", "calendar", "contacts", "rules",
                    "out-of-office", "sync", "notifications", "Outlook", "Python", "Graph"):
        assert trigger in description, f"the description does not name {trigger!r}"
    assert "Not for Microsoft Graph" in description
    assert len(body.splitlines()) < 200
    scripts = sorted(p.name for p in (BUNDLE / "scripts").glob("*.py") if "__main__" in p.read_text())
    missing = [name for name in scripts if name not in body and not name.startswith("setup_")]
    assert not missing, f"SKILL.md's task map does not name {missing}"
    references = sorted(p.name for p in (BUNDLE / "references").glob("*.md"))
    assert [name for name in references if f"references/{name})" not in body] == []
