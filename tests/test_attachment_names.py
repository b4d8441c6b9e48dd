"""attachments.py names a saved file after the attachment, made safe; an attachment named
only by its extension keeps it (issue 10, item 5: `.pdf` was saved as `pdf`)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import attachments  # noqa: E402


@pytest.mark.parametrize("name, saved", [
    (".pdf", "attachment.pdf"),          # not hidden, and still a PDF
    ("..pdf", "attachment.pdf"),
    (" .tar.gz ", "attachment.tar.gz"),
    ("report.pdf", "report.pdf"),
    ("report.pdf.", "report.pdf"),       # Windows drops trailing dots: so do we
    ("..", "attachment"),
    (".", "attachment"),
    ("../../etc/.bashrc", "attachment.bashrc"),
])
def test_a_name_that_is_only_an_extension_keeps_it(name, saved):
    assert attachments.safe_name(name) == saved
