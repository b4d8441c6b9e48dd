"""FindItem's QueryString: a subset of Advanced Query Syntax (AQS), as Exchange's content
index answers it.

What the sandbox understands (ews_sandbox/FIDELITY.md lists what it does not):
- words and "quoted phrases": a word matches a word of the item that starts with it
  ("budg" finds "Budget"), any case; a phrase matches its words in a row. Text is cut
  into words at anything that is not a letter or a digit, in the query as in the item,
  so `n1c.vp-4w` is the phrase n1c vp 4w;
- property:value, and property:(a OR b) for a group: subject, body, from, to, cc, bcc,
  participants (from, to, cc and bcc), category / categories, importance (low, normal,
  high), hasattachment(s) (true / false, yes / no), kind (email, meetings, contacts,
  tasks, notes), received and sent (a date yyyy-mm-dd, with =, <, <=, >, >= or a range
  a..b, compared as UTC dates); a property name AQS does not know is text, as the index
  reads it;
- words without a property search subject, body, senders, recipients and categories;
- AND (also implied between terms), OR, NOT and parentheses, AND binding tighter than
  OR; the keywords must be upper case (a lower-case "and" is a word).
"""
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from ..model.properties import utc_text
from ..wire.paths import Path
from .restrictions import ROW_COLUMNS, item_values

FUNCTION = "ews_query_string_match"
ARITY = 2 + len(ROW_COLUMNS)

TEXT_PROPERTIES = {
    "subject": ("Subject",), "body": ("Body",), "from": ("From", "Sender"), "to": ("ToRecipients",),
    "cc": ("CcRecipients",), "bcc": ("BccRecipients",),
    "participants": ("From", "Sender", "ToRecipients", "CcRecipients", "BccRecipients"),
    "category": ("Categories",), "categories": ("Categories",),
}
ANYWHERE = ("Subject", "Body", "From", "Sender", "ToRecipients", "CcRecipients", "BccRecipients", "Categories")
KINDS = {"email": ("ipm.note",), "meetings": ("ipm.appointment", "ipm.schedule.meeting"),
         "contacts": ("ipm.contact", "ipm.distlist"), "tasks": ("ipm.task",), "notes": ("ipm.stickynote",)}
OTHER_PROPERTIES = ("importance", "hasattachment", "hasattachments", "kind", "received", "sent")
KEYWORDS = ("AND", "OR", "NOT")

_TOKEN = re.compile(r'\s*(?:(?P<open>\()|(?P<close>\))|"(?P<quoted>[^"]*)"?|(?P<word>[^\s()"]+))')
_PROPERTY = re.compile(r"^(?P<name>[A-Za-z]+):(?P<rest>.*)$", re.S)
_WORD = re.compile(r"\w+")
_DATE_COMPARISON = re.compile(r"^(?P<op><=|>=|<|>|=)?(?P<first>\d{4}-\d{2}-\d{2})(?:\.\.(?P<last>\d{4}-\d{2}-\d{2}))?$")


@dataclass(frozen=True)
class Term:
    prop: str | None   # a known property, folded; None: anywhere
    text: str


@dataclass(frozen=True)
class Group:
    kind: str          # "and", "or", "not"
    parts: tuple


def words(text):
    return _WORD.findall(text.casefold())


# ---- parsing ----------------------------------------------------------------------------

def _tokens(text):
    found = []
    for match in _TOKEN.finditer(text):
        if match.group("open"):
            found.append(("(", None))
        elif match.group("close"):
            found.append((")", None))
        elif match.group("quoted") is not None:
            found.append(("phrase", match.group("quoted")))
        elif match.group("word"):
            found.append(("word", match.group("word")))
    return found


class _Parser:
    def __init__(self, text):
        self.tokens = _tokens(text)
        self.at = 0

    def peek(self):
        return self.tokens[self.at] if self.at < len(self.tokens) else (None, None)

    def take(self):
        token = self.peek()
        self.at += 1
        return token

    def expression(self, prop=None):
        parts = [self.conjunction(prop)]
        while self.peek() == ("word", "OR"):
            self.take()
            parts.append(self.conjunction(prop))
        return parts[0] if len(parts) == 1 else Group("or", tuple(parts))

    def conjunction(self, prop):
        parts = []
        while True:
            kind, value = self.peek()
            if kind is None or kind == ")" or (kind, value) == ("word", "OR"):
                break
            if (kind, value) == ("word", "AND"):
                self.take()
                continue
            parts.append(self.negation(prop))
        if not parts:
            return Group("and", ())
        return parts[0] if len(parts) == 1 else Group("and", tuple(parts))

    def negation(self, prop):
        if self.peek() == ("word", "NOT"):
            self.take()
            return Group("not", (self.negation(prop),))
        return self.primary(prop)

    def primary(self, prop):
        kind, value = self.take()
        if kind == "(":
            inner = self.expression(prop)
            if self.peek()[0] == ")":
                self.take()
            return inner
        if kind == "phrase":
            return Term(prop, value)
        named = _PROPERTY.match(value)
        if named and _known(named.group("name")):
            name, rest = named.group("name").casefold(), named.group("rest")
            if rest:
                return Term(name, rest)
            following, word = self.peek()
            if following in ("(", "phrase") or (following == "word" and word not in KEYWORDS):
                return self.primary(name)  # "subject: budget" as "subject:budget"
            return Term(name, "")
        return Term(prop, value)


def _known(name):
    folded = name.casefold()
    return folded in TEXT_PROPERTIES or folded in OTHER_PROPERTIES


@lru_cache(maxsize=128)
def parse(text):
    """The expression tree of a query string (parsed once, evaluated per row)."""
    return _Parser(text or "").expression()


# ---- matching ---------------------------------------------------------------------------

def sql_match(text, xml, *columns):
    """SQL function: 1 when the row matches the query string, else 0."""
    values = item_values(xml, dict(zip(ROW_COLUMNS, columns)))
    return int(_evaluate(parse(text), values, {}))


def _evaluate(node, values, cache):
    if isinstance(node, Group):
        if node.kind == "and":
            return all(_evaluate(part, values, cache) for part in node.parts)
        if node.kind == "or":
            return any(_evaluate(part, values, cache) for part in node.parts)
        return not _evaluate(node.parts[0], values, cache)
    if node.prop in OTHER_PROPERTIES:
        return _other(node, values)
    wanted = words(node.text)
    if not wanted:
        return True
    names = TEXT_PROPERTIES.get(node.prop, ANYWHERE)
    if names not in cache:
        cache[names] = [words(text) for name in names for text in values(Path("field", f"item:{name}", name)) or []]
    return any(_phrase_in(wanted, found) for found in cache[names])


def _phrase_in(wanted, found):
    """Whether the words `wanted` start the words of `found` at some place, in a row."""
    for start in range(len(found) - len(wanted) + 1):
        if all(found[start + i].startswith(word) for i, word in enumerate(wanted)):
            return True
    return False


def _other(node, values):
    value = node.text.strip().casefold()
    if node.prop == "importance":
        return (values(Path("field", "item:Importance", "Importance")) or ["Normal"])[0].casefold() == value
    if node.prop in ("hasattachment", "hasattachments"):
        flag = value in ("true", "yes", "1")
        return bool(values.columns["has_attachments"]) == flag
    if node.prop == "kind":
        item_class = (values.columns["item_class"] or "").casefold()
        return any(item_class == prefix or item_class.startswith(prefix + ".") for prefix in KINDS.get(value, ()))
    stamp = values.columns["received"] if node.prop == "received" else \
        (values(Path("field", "item:DateTimeSent", "DateTimeSent")) or [None])[0]
    return _date_matches(utc_text(stamp) if stamp else None, value)


def _date_matches(stamp, value):
    comparison = _DATE_COMPARISON.match(value)
    if not stamp or not comparison:
        return False
    day = date.fromisoformat(stamp[:10])
    first = date.fromisoformat(comparison.group("first"))
    if comparison.group("last"):
        return first <= day <= date.fromisoformat(comparison.group("last"))
    return {"<": day < first, "<=": day <= first, ">": day > first, ">=": day >= first}.get(
        comparison.group("op"), day == first)
