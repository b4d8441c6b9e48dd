"""Restrictions: EWS search expressions, evaluated as Exchange evaluates them.

A restriction is parsed once into a small tree (And, Or, Not and leaves). It is then
either evaluated in Python over a property getter (FindFolder, and leaves on
properties kept only in the item's XML) or translated to SQL over the items table, so
that comparisons on indexed columns use the (folder_id, column) indexes.

Exchange semantics kept here:
- strings compare case-insensitively (IsEqualTo, ranges); Contains follows its
  ContainmentMode and ContainmentComparison;
- a comparison on a property the item lacks is false, so Not(...) of it is true;
  IsNotEqualTo is Not(IsEqualTo), which is what exclude() sends;
- a multi-valued property (Categories, *Array extended properties) matches when any
  of its values does;
- datetimes compare in UTC, booleans and numbers as such.
"""
import re
import threading
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from lxml import etree

from ..model import contacts, mapi
from ..model.properties import child, element_values, extended_values, find_extended, fold, utc_text
from ..wire.errors import EWSError
from ..wire.ns import T, local, t
from ..wire.paths import Path, is_path, parse_path
from ..wire.soap import schema_fault

# ---- value types ---------------------------------------------------------------------

STRING, DATETIME, BOOL, INT, FLOAT, BINARY, RANKED = "string", "datetime", "bool", "int", "float", "binary", "ranked"

_DATETIME_NAMES = frozenset({
    "DateTimeReceived", "DateTimeSent", "DateTimeCreated", "LastModifiedTime", "ReminderDueBy",
    "ReminderNextTime", "Start", "End", "OriginalStart", "AppointmentReplyTime", "DateTimeStamp", "RecurrenceId",
    "StartDate", "DueDate", "CompleteDate", "AssignedTime", "Birthday", "WeddingAnniversary", "RetentionDate",
    "PostedTime", "ExpirationDate", "StartWallClock", "EndWallClock",
})
_INT_NAMES = frozenset({
    "Size", "ReminderMinutesBeforeStart", "ConflictingMeetingCount", "AdjacentMeetingCount",
    "AppointmentSequenceNumber", "AppointmentState", "ActualWork", "TotalWork", "ChangeCount",
    "TotalCount", "UnreadCount", "ChildFolderCount",
})
_FLOAT_NAMES = frozenset({"PercentComplete"})
_BOOL_NAMES = frozenset({"ReminderIsSet", "AllowNewTimeProposal", "MeetingRequestWasSent", "MentionedMe",
                         "AtAllMention", "HasAttachments"})
# Enumerations Exchange stores as numbers: they order by rank, not alphabetically.
RANKS = {
    "Importance": ("low", "normal", "high"),
    "Sensitivity": ("normal", "personal", "private", "confidential"),
}
_EXTENDED_TYPES = {
    "String": STRING, "CLSID": STRING, "Binary": BINARY, "Boolean": BOOL, "SystemTime": DATETIME,
    "Integer": INT, "Long": INT, "Short": INT, "Currency": INT, "Double": FLOAT, "Float": FLOAT,
    "ApplicationTime": FLOAT,
}


@lru_cache(maxsize=1024)
def value_type(path):
    """The type a path's values compare as."""
    if path.kind == "extended":
        declared = (path.uri_element().get("PropertyType") or "String").removesuffix("Array")
        return _EXTENDED_TYPES.get(declared, STRING)
    name = path.name
    if name in RANKS:
        return RANKED
    if name in _DATETIME_NAMES:
        return DATETIME
    if name in _INT_NAMES:
        return INT
    if name in _FLOAT_NAMES:
        return FLOAT
    if name in _BOOL_NAMES or (name[:2] == "Is" and name[2:3].isupper()):
        return BOOL
    return STRING


def typed(text, kind, name=None):
    """Text as a comparable value of `kind`, or None when it is not one."""
    try:
        if kind == STRING:
            return fold(text)
        if kind == BINARY:
            return text.strip()
        if kind == DATETIME:
            return utc_text(text)
        if kind == BOOL:
            value = text.strip().lower()
            return {"true": 1, "1": 1, "false": 0, "0": 0}.get(value)
        if kind == INT:
            number = int(text.strip(), 16) if text.strip().lower().startswith("0x") else int(text)
            return number if -2**63 <= number < 2**63 else None  # what a 64-bit property can hold
        if kind == FLOAT:
            return float(text)
        if kind == RANKED:
            ranks = RANKS[name]
            return ranks.index(fold(text.strip())) if fold(text.strip()) in ranks else None
    except (ValueError, AttributeError, OverflowError):
        return None
    raise ValueError(kind)


def typed_constant(text, path):
    kind = value_type(path)
    value = typed(text, kind, path.name)
    if value is None:
        raise EWSError("ErrorInvalidValueForProperty",
                       f"The value '{text}' is not valid for the property {_describe(path)}.")
    return value


_constant = lru_cache(maxsize=1024)(typed_constant)  # evaluated per row: parse each constant once


def _describe(path):
    return path.uri if path.kind != "extended" else "ExtendedFieldURI"


# ---- the tree ---------------------------------------------------------------------------

COMPARISONS = {
    "IsEqualTo": lambda a, b: a == b,
    "IsNotEqualTo": lambda a, b: a == b,  # negated by the caller: Not(IsEqualTo)
    "IsGreaterThan": lambda a, b: a > b,
    "IsGreaterThanOrEqualTo": lambda a, b: a >= b,
    "IsLessThan": lambda a, b: a < b,
    "IsLessThanOrEqualTo": lambda a, b: a <= b,
}
CONTAINMENT_MODES = ("FullString", "Prefixed", "Substring", "PrefixOnWords", "ExactPhrase")
CONTAINMENT_COMPARISONS = ("Exact", "IgnoreCase", "IgnoreNonSpacingCharacters", "Loose",
                           "IgnoreCaseAndNonSpacingCharacters", "LooseAndIgnoreCase", "LooseAndIgnoreNonSpace",
                           "LooseAndIgnoreCaseAndIgnoreNonSpace")


@dataclass(frozen=True)
class Node:
    kind: str                 # And, Or, Not, a comparison name, Contains, Exists or Excludes
    source: str               # the element as XML: the key the SQL functions parse again
    children: tuple = ()
    path: Path = None
    constant: str = None      # Constant/@Value, Contains' Constant or Excludes' Bitmask
    other: Path = None        # FieldURIOrConstant holding a property instead of a constant
    mode: str = None
    comparison: str = None

    @property
    def is_leaf(self):
        return self.kind not in ("And", "Or", "Not")


def parse(element):
    """A restriction's search expression (one child of m:Restriction) as a Node."""
    kind = local(element)
    source = etree.tostring(element).decode()
    if etree.QName(element).namespace != T:
        raise schema_fault(f"The element '{element.tag}' is not a search expression.")
    if kind == "Not":
        element, negated = _unwrapped_nots(element)
        if not negated:  # Not(Not(x)) is x
            return parse(element)
    if kind in ("And", "Or", "Not"):
        expressions = _operands(element, kind)
        if not expressions:
            raise schema_fault(f"The element '{kind}' needs at least one search expression.")
        if kind == "Not" and len(expressions) > 1:  # the schema allows several: Not of their And
            return Node(kind, source, (_and_of(expressions),))
        return Node(kind, source, tuple(parse(c) for c in expressions))
    if kind in COMPARISONS:
        return _comparison(kind, element, source)
    if kind == "Contains":
        return _contains(element, source)
    if kind == "Exists":
        return Node(kind, source, path=_leaf_path(element))
    if kind == "Excludes":
        mask = element.find(t("Bitmask"))
        value = mask.get("Value") if mask is not None else None
        if value is None or not re.fullmatch(r"(0[xX][0-9A-Fa-f]+)|([0-9]+)", value):
            raise schema_fault("Excludes needs a Bitmask with a hexadecimal or decimal Value.")
        path = _leaf_path(element)
        if value_type(path) != INT:
            raise EWSError("ErrorInvalidExcludesRestriction", "Excludes applies to integer properties only.")
        return Node(kind, source, path=path, constant=value)
    raise schema_fault(f"The element '{kind}' in namespace '{T}' is not a valid search expression.")


def _operands(element, kind):
    """The expressions of an And (Or), with Ands (Ors) nested in it opened in place, so that
    a chain such as Q objects joined one by one build stays one flat node (no recursion)."""
    found, stack = [], [iter(element)]
    while stack:
        node = next(stack[-1], None)
        if node is None:
            stack.pop()
        elif isinstance(node.tag, str) and kind != "Not" and node.tag == element.tag:
            stack.append(iter(node))
        elif isinstance(node.tag, str):
            found.append(node)
    return found


def _unwrapped_nots(element):
    """(the innermost of a chain of single-child Nots, whether their count is odd)."""
    negated = True
    while True:
        inner = [c for c in element if isinstance(c.tag, str)]
        if len(inner) != 1 or inner[0].tag != element.tag:
            return element, negated
        element, negated = inner[0], not negated


def parse_restriction(restriction):
    """The m:Restriction element as one Node (several expressions are ANDed), or None."""
    if restriction is None:
        return None
    check_complexity(restriction)
    expressions = [c for c in restriction if isinstance(c.tag, str)]
    if not expressions:
        raise schema_fault("The element 'Restriction' has incomplete content.")
    return parse(expressions[0]) if len(expressions) == 1 else _and_of(expressions)


def _and_of(expressions):
    """A Node for the And of several sibling expressions (its source is a real t:And)."""
    wrapper = etree.Element(t("And"), nsmap={"t": T})
    for expression in expressions:
        wrapper.append(etree.fromstring(etree.tostring(expression)))
    return parse(wrapper)


# Properties Exchange keeps as streams or computes on output: no restriction reads them.
NOT_QUERYABLE = frozenset({"MimeContent", "Attachments", "ResponseObjects", "EffectiveRights", "UniqueBody",
                           "TextBody", "NormalizedBody"})


def _leaf_path(element):
    for node in element:
        if isinstance(node.tag, str) and is_path(node):
            path = parse_path(node)  # an invalid path is a schema fault already
            if path.kind == "field" and path.name in NOT_QUERYABLE:
                raise EWSError("ErrorUnsupportedPathForQuery",
                               f"The property {path.uri} cannot be used in a restriction.")
            return path
    raise schema_fault(f"The element '{local(element)}' has incomplete content: a property path is missing.")


def _comparison(kind, element, source):
    path = _leaf_path(element)
    operand = element.find(t("FieldURIOrConstant"))
    if operand is None or len(operand) != 1:
        raise schema_fault(f"The element '{kind}' needs one FieldURIOrConstant.")
    inner = operand[0]
    if local(inner) == "Constant":
        if inner.get("Value") is None:
            raise schema_fault("The required attribute 'Value' of Constant is missing.")
        typed_constant(inner.get("Value"), path)
        return Node(kind, source, path=path, constant=inner.get("Value"))
    if is_path(inner):
        return Node(kind, source, path=path, other=parse_path(inner))
    raise schema_fault(f"The element '{local(inner)}' is not valid in FieldURIOrConstant.")


def _contains(element, source):
    path = _leaf_path(element)
    constant = element.find(t("Constant"))
    if constant is None or constant.get("Value") is None:
        raise schema_fault("Contains needs a Constant with a Value.")
    mode = element.get("ContainmentMode", "FullString")
    comparison = element.get("ContainmentComparison", "Exact")
    if mode not in CONTAINMENT_MODES or comparison not in CONTAINMENT_COMPARISONS:
        raise schema_fault(f"Invalid ContainmentMode '{mode}' or ContainmentComparison '{comparison}'.")
    return Node("Contains", source, path=path, constant=constant.get("Value"), mode=mode, comparison=comparison)


# What Exchange answers ErrorRestrictionTooComplex for; the sandbox's own bounds (Exchange
# does not publish its own), well past what exchangelib's Q objects build for real queries.
MAX_DEPTH = 32        # levels where And, Or and Not alternate (And in And is one level)
MAX_EXPRESSIONS = 2000  # search expressions in all (And, Or and Not included)


def check_complexity(element):
    """Refuse a restriction too deep or too wide, before anything recurses over it."""
    count, stack = 0, [(element, 0, None)]
    while stack:
        node, depth, outer = stack.pop()
        if not isinstance(node.tag, str):
            continue
        nested = local(node) in ("And", "Or", "Not")
        depth += nested and local(node) != outer  # And in And, Or in Or, Not in Not: flattened, no level
        count += 1
        if depth > MAX_DEPTH or count > MAX_EXPRESSIONS:
            raise EWSError("ErrorRestrictionTooComplex",
                           f"The restriction is too complex: at most {MAX_DEPTH} levels of And, Or and Not "
                           f"and {MAX_EXPRESSIONS} expressions.")
        if nested or node is element:
            stack.extend((c, depth, local(node)) for c in node)


# ---- evaluation in Python ---------------------------------------------------------------

def evaluate(node, values_of):
    """Does the object whose property values `values_of(path)` gives match `node`?
    `values_of` returns a list of texts; an empty list or None means the object lacks it."""
    if node.kind == "And":
        return all(evaluate(c, values_of) for c in node.children)
    if node.kind == "Or":
        return any(evaluate(c, values_of) for c in node.children)
    if node.kind == "Not":
        return not evaluate(node.children[0], values_of)
    values = values_of(node.path)
    if node.kind == "Exists":
        return bool(values)
    if not values:
        return node.kind == "IsNotEqualTo"  # missing: false, so its negation is true
    if node.kind == "Contains":
        return any(_contains_match(node, v) for v in values)
    if node.kind == "Excludes":
        mask = int(node.constant, 0) if node.constant.lower().startswith("0x") else int(node.constant)
        numbers = [typed(v, INT) for v in values]
        return any(n is not None and n & mask == 0 for n in numbers)
    return _compare(node, values, values_of)


def _compare(node, values, values_of):
    kind = value_type(node.path)
    if node.other is not None:
        constants = [typed(v, kind, node.path.name) for v in values_of(node.other) or []]
        constants = [c for c in constants if c is not None]
    else:
        constants = [_constant(node.constant, node.path)]
    test = COMPARISONS[node.kind]
    found = any(test(value, constant) for value in (typed(v, kind, node.path.name) for v in values)
                if value is not None for constant in constants)
    return not found if node.kind == "IsNotEqualTo" else found


def _contains_match(node, value):
    wanted = _normalize(node.constant, node.comparison)
    text = _normalize(value, node.comparison)
    if node.mode == "FullString":
        return text == wanted
    if node.mode == "Prefixed":
        return text.startswith(wanted)
    if node.mode == "Substring":
        return wanted in text
    if node.mode == "PrefixOnWords":
        return re.search(r"(?<!\w)" + re.escape(wanted), text) is not None
    return re.search(r"(?<!\w)" + re.escape(wanted) + r"(?!\w)", text) is not None  # ExactPhrase


def _normalize(text, comparison):
    """Apply a ContainmentComparison: 'Loose' ignores case and accents, as Outlook's
    loose matching does."""
    loose = comparison.startswith("Loose")
    if loose or "IgnoreCase" in comparison:
        text = text.casefold()
    if loose or "NonSpacing" in comparison or "NonSpace" in comparison:
        text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return text


def folder_matcher(element):
    """For FindFolder: a callable taking {element name: [values as text]} -> bool."""
    check_complexity(element)
    node = parse(element)

    def matches(values):
        return evaluate(node, lambda path: values.get(path.name) if path.kind != "extended" else None)

    return matches


# ---- item properties -------------------------------------------------------------------

# Columns the SQL functions receive beside the XML: properties the server keeps.
ROW_COLUMNS = ("received", "created", "modified", "size", "has_attachments", "is_draft", "is_associated",
               "item_class", "is_read", "unmodified")


class ItemValues:
    """The values of an item's properties, read from its XML and its server-kept columns."""

    def __init__(self, item, columns):
        self.item = item
        self.columns = columns

    def __call__(self, path):
        if path.kind == "extended":
            prop = find_extended(self.item, path.uri_element())
            return extended_values(prop) if prop is not None else mapi.read(self.item, self.columns, path.ext_key)
        if path.kind == "indexed":
            return self._indexed(path)
        computed = getattr(self, f"_value_{path.name}", None)
        if computed is not None:
            return computed()
        element = child(self.item, path.name)
        if element is None:
            return None
        if path.name == "Body":
            from ..wire.item_shape import body_as_text
            return [body_as_text(element)]
        return element_values(element)

    # Properties the server keeps in columns, or computes.
    def _value_DateTimeReceived(self):
        return [self.columns["received"]] if self.columns["received"] else None

    def _value_DateTimeCreated(self):
        return [self.columns["created"]]

    def _value_LastModifiedTime(self):
        return [self.columns["modified"]]

    def _value_Size(self):
        return [str(self.columns["size"])]

    def _value_HasAttachments(self):
        return _flag(self.columns["has_attachments"])

    def _value_IsDraft(self):
        return _flag(self.columns["is_draft"])

    def _value_IsAssociated(self):
        return _flag(self.columns["is_associated"])

    def _value_IsRead(self):
        return _flag(self.columns["is_read"])

    def _value_IsUnmodified(self):
        return _flag(self.columns["unmodified"])

    def _value_ItemClass(self):
        return [self.columns["item_class"]] if self.columns["item_class"] else None

    def _value_Importance(self):
        stored = child(self.item, "Importance")
        return [stored.text if stored is not None else "Normal"]

    def _value_ConversationId(self):
        from ..wire.item_shape import ItemRenderer
        return [ItemRenderer(None, None)._computed_ConversationId(None, self.item).get("Id")]

    def _indexed(self, path):
        return contacts.entry_values(self.item, path)


def _flag(value):
    return None if value is None else ["true" if value else "false"]


_parsed = threading.local()


def item_values(xml, columns):
    """ItemValues for a row's XML; the last parse is kept, as several leaves of one
    query ask about the same row in turn."""
    if getattr(_parsed, "xml", None) != xml:
        _parsed.xml, _parsed.item = xml, etree.fromstring(xml)
    return ItemValues(_parsed.item, columns)


_SOURCE_PARSER = etree.XMLParser(huge_tree=True)  # a chain of Ands may nest past libxml2's usual 256 levels


@lru_cache(maxsize=256)
def node_from_source(source):
    return parse(etree.fromstring(source, _SOURCE_PARSER))


def sql_match(source, xml, *columns):
    """SQL function: 1 when the row matches the expression `source`, else 0 (never NULL)."""
    values = item_values(xml, dict(zip(ROW_COLUMNS, columns)))
    return int(evaluate(node_from_source(source), values))


# ---- translation to SQL -----------------------------------------------------------------

@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    nullable: bool
    folded: bool = False   # stored case-folded: Contains with IgnoreCase can run in SQL


COLUMNS = {
    "item:Subject": Column("subject", STRING, True, folded=True),
    "item:DateTimeReceived": Column("received", DATETIME, True),
    "item:DateTimeSent": Column("sent", DATETIME, True),
    "item:DateTimeCreated": Column("created", DATETIME, False),
    "item:LastModifiedTime": Column("modified", DATETIME, False),
    "message:IsRead": Column("is_read", BOOL, True),
    "item:HasAttachments": Column("has_attachments", BOOL, False),
    "item:Size": Column("size", INT, False),
    "item:IsDraft": Column("is_draft", BOOL, False),
    "item:IsAssociated": Column("is_associated", BOOL, False),
    "item:Importance": Column("importance", RANKED, False),
}
SENDER = Column("sender", STRING, True, folded=True)  # From's address (else Sender's), case-folded
# Columns with a (folder_id, column) index.
INDEXED_COLUMNS = frozenset({"subject", "received", "sent", "is_read", "sender"})
SQL_OPERATORS = {"IsEqualTo": "=", "IsGreaterThan": ">", "IsGreaterThanOrEqualTo": ">=", "IsLessThan": "<",
                 "IsLessThanOrEqualTo": "<="}
MATCH_FUNCTION = "ews_restriction_match"
PREFIX_END = "\U0010ffff"


def column_of(path):
    return COLUMNS.get(path.uri) if path is not None and path.kind == "field" else None


def importance_rank_sql(name="importance"):
    return f"(CASE {name} WHEN 'low' THEN 0 WHEN 'normal' THEN 1 WHEN 'high' THEN 2 END)"


def python_call(source):
    """SQL that evaluates an expression in Python over the row."""
    return f"{MATCH_FUNCTION}(?, xml, {', '.join(ROW_COLUMNS)}) = 1", [source]


def to_sql(node):
    """(SQL condition, parameters) for a Node. Every condition is true or false, never
    NULL, so that NOT keeps Exchange's "missing is false" semantics."""
    if not _uses_columns(node):
        sql, params = python_call(node.source)
        narrowing = prefilter(node)
        if narrowing is not None:  # C string searches first: Python parses only the rows that pass
            return f"(({narrowing[0]}) OR instr(xml, '&#') > 0 OR xml GLOB ?) AND {sql}", \
                [*narrowing[1], _NOT_ASCII, *params]
        return sql, params
    if node.kind in ("And", "Or"):
        return _balanced(node.kind.upper(), [to_sql(c) for c in node.children])
    if node.kind == "Not":
        sql, params = to_sql(node.children[0])
        return f"NOT ({sql})", params
    if _is_from_address(node):
        sql, params = python_call(node.source)
        return f"{_guarded(SENDER, 'sender = ?')} AND {sql}", [fold(node.constant), *params]
    return _column_leaf(node, column_of(node.path))


def _balanced(operator, parts):
    """`a OR b OR c ...` nested as a balanced tree: SQLite parses a flat chain of n terms
    n levels deep, and refuses expressions deeper than 1000."""
    if len(parts) == 1:
        return parts[0]
    middle = len(parts) // 2
    (left, left_params), (right, right_params) = _balanced(operator, parts[:middle]), _balanced(operator, parts[middle:])
    return f"({left}) {operator} ({right})", [*left_params, *right_params]


def narrowing_columns(node):
    """Indexed columns that every match must satisfy a comparison on (leaves of the
    top-level And): the query planner should search their index."""
    if node is None:
        return set()
    if node.kind == "And":
        return set().union(*(narrowing_columns(c) for c in node.children))
    if not node.is_leaf or not _uses_columns(node) or node.kind in ("IsNotEqualTo", "Exists"):
        return set()
    if _is_from_address(node):
        return {SENDER.name}
    if node.kind == "Contains" and node.mode == "Substring":
        return set()
    return {column_of(node.path).name} & INDEXED_COLUMNS


def _uses_columns(node):
    if not node.is_leaf:
        return any(_uses_columns(c) for c in node.children)
    if _is_from_address(node):
        return True
    column = column_of(node.path)
    if column is None or node.other is not None or node.kind == "Excludes":
        return False
    if node.kind == "Contains":
        return column.folded and node.comparison == "IgnoreCase" and node.mode in ("FullString", "Prefixed",
                                                                                   "Substring")
    return True


def _is_from_address(node):
    """IsEqualTo on message:From with an address: the sender column (From's address,
    case-folded) must then equal it, so it narrows the search before the exact test."""
    return (node.kind == "IsEqualTo" and node.other is None and node.path.uri == "message:From"
            and "@" in node.constant)


def _guarded(column, condition):
    """`column IS NOT NULL AND ...`: a NULL column makes the leaf false, not NULL;
    the conjunct keeps the comparison usable by the column's index."""
    return f"{column.name} IS NOT NULL AND {condition}" if column.nullable else condition


def _column_leaf(node, column):
    if node.kind == "Exists":
        return (f"{column.name} IS NOT NULL" if column.nullable else "1"), []
    if node.kind == "Contains":
        return _contains_sql(node, column)
    value = typed_constant(node.constant, node.path)
    name = column.name
    if column.kind == RANKED and node.kind not in ("IsEqualTo", "IsNotEqualTo"):
        name = importance_rank_sql(column.name)
    elif column.kind == RANKED:
        value = RANKS["Importance"][value]
    if node.kind == "IsNotEqualTo":
        return f"NOT ({_guarded(column, f'{column.name} = ?')})", [value]
    return _guarded(column, f"{name} {SQL_OPERATORS[node.kind]} ?"), [value]


def _contains_sql(node, column):
    wanted = fold(node.constant)
    if node.mode == "FullString":
        return _guarded(column, f"{column.name} = ?"), [wanted]
    if node.mode == "Prefixed":  # a range, so the index serves it
        return _guarded(column, f"{column.name} >= ? AND {column.name} < ?"), [wanted, wanted + PREFIX_END]
    return _guarded(column, f"instr({column.name}, ?) > 0"), [wanted]


# ---- a pre-filter in SQL for properties kept only in the XML -------------------------------

# Text-only elements whose value is the element's text as stored: IsEqualTo on one of them
# can only match a row whose XML holds the value (escaped as lxml writes it), in some case.
XML_TEXT_FIELDS = frozenset({"message:InternetMessageId"})
_NOT_ASCII = "*[^\x01-\x7f]*"  # GLOB: the row's XML has a character beyond ASCII


def prefilter(node):
    """(SQL, parameters): a condition every row matching `node` whose XML is all ASCII meets,
    cheap to test in C (substring searches in the row's XML), or None. to_sql lets a row with
    a character beyond ASCII through: case folding may turn one into ASCII letters (K, ß...),
    and the XML writes it as a character reference."""
    if node.kind == "Or":
        parts = [prefilter(c) for c in node.children]
        return None if any(p is None for p in parts) else _balanced("OR", parts)
    if node.kind == "And":
        parts = [p for p in (prefilter(c) for c in node.children) if p is not None]
        return _balanced("AND", parts) if parts else None
    if node.kind != "IsEqualTo" or node.other is not None or node.path is None or node.path.kind != "field" \
            or node.path.uri not in XML_TEXT_FIELDS:
        return None
    value = node.constant
    if not value or any(not " " <= c <= "~" for c in value):
        return None
    needle = value.lower().replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "instr(lower(xml), ?) > 0", [needle]

