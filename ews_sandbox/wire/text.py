"""Text from stored values that a client wrote, made safe to render and to search.

HTML bodies become plain text the way Exchange's TextBody reads (lines kept, markup
gone), for any markup a client may send (a comment alone, an XML declaration, no
markup at all), and each conversion is cached: a search of many Contains on Body asks
for the same item's text once per leaf.
"""
import binascii
from functools import lru_cache

from lxml import etree
from lxml import html as lxml_html

BLOCK_TAGS = ("p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "ul", "ol")


@lru_cache(maxsize=32)
def html_to_text(markup):
    """The text of an HTML document or fragment, with its paragraphs and <br>s as CRLF."""
    if not markup.strip():
        return ""
    try:
        document = lxml_html.document_fromstring(markup)
    except ValueError:  # a str with an encoding declaration: lxml wants bytes then
        document = _parse_bytes(markup.encode("utf-8"))
    except etree.ParserError:  # nothing but comments or processing instructions: no text
        return ""
    if document is None:
        return ""
    for element in list(document.iter("head", "script", "style")):  # not text a reader sees
        element.drop_tree()
    for element in document.iter("br", *BLOCK_TAGS):
        element.tail = "\r\n" + (element.tail or "")
    lines = (line.strip() for line in document.text_content().splitlines())
    # Exchange's converter ends the text it makes of HTML with a line break.
    return "".join(line + "\r\n" for line in lines if line)


def _parse_bytes(data):
    try:
        return lxml_html.document_fromstring(data)
    except (etree.ParserError, ValueError):
        return None


def header_safe(value):
    """A value for one MIME header line: CR, LF and other control characters become
    spaces (a client may store them in a subject or a name; a header cannot carry them)."""
    if value is None:
        return None
    return "".join(" " if (ord(c) < 32 and c != "\t") or c == "\x7f" else c for c in str(value))


def decode_base64(text):
    """xs:base64Binary as the schema reads it: the alphabet, padding and whitespace only.
    Raises ValueError for anything else (binascii's default skips stray characters,
    which stored 'aGVs!!bG8=' as b'hello')."""
    try:
        return binascii.a2b_base64(text, strict_mode=True)  # the usual case, without a copy
    except (binascii.Error, ValueError):
        pass
    compact = "".join(text.split())
    try:
        return binascii.a2b_base64(compact, strict_mode=True) if compact else b""
    except binascii.Error as e:
        raise ValueError(f"not valid base64: {e}") from e
