"""Sort orders (m:SortOrder) as SQL ORDER BY clauses.

A property with a column sorts on the column (and its index, for DateTimeReceived);
any other property sorts on a key computed in Python from the item's XML. Keys are
typed as restrictions type them (UTC datetimes, numbers, case-folded text), a missing
property has a NULL key, so it sorts first ascending and last descending, as on
Exchange. Every order ends with the item id, so that pages never overlap or skip.
"""
from dataclasses import dataclass
from functools import lru_cache

from lxml import etree

from ..wire.errors import EWSError
from ..wire.ns import T, local
from ..wire.paths import is_path, parse_path
from ..wire.soap import schema_fault
from . import restrictions
from .restrictions import RANKED, ROW_COLUMNS, column_of, importance_rank_sql, typed, value_type

SORT_FUNCTION = "ews_sort_key"
NOT_SORTABLE = restrictions.NOT_QUERYABLE | {"Body"}


@dataclass(frozen=True)
class Key:
    expression: str      # a column name or a call of the sort-key function
    params: tuple
    descending: bool
    column: str = None   # the column sorted on, if any


# Without a SortOrder Exchange lists a folder newest first.
DEFAULT_KEYS = (Key("received", (), True, "received"),)


def parse_sort_order(sort_order):
    """The keys of an m:SortOrder element (None: the default order)."""
    if sort_order is None:
        return DEFAULT_KEYS
    keys = []
    for field_order in sort_order:
        if not isinstance(field_order.tag, str):
            continue
        if local(field_order) != "FieldOrder":
            raise schema_fault(f"The element '{local(field_order)}' is not valid in SortOrder; expected FieldOrder.")
        direction = field_order.get("Order")
        if direction not in ("Ascending", "Descending"):
            raise schema_fault("FieldOrder needs an Order attribute of Ascending or Descending.")
        keys.append(sort_key(_order_path(field_order), direction == "Descending"))
    if not keys:
        raise schema_fault("The element 'SortOrder' has incomplete content: FieldOrder is expected.")
    return tuple(keys)


def order_by(keys, narrowing=()):
    """(ORDER BY clause without the keywords, parameters). Ties follow the first key's
    direction by item id, so a descending order is the exact reverse of the ascending one.

    `narrowing` names indexed columns the restriction compares: unless the first key
    sorts on one of them, the keys are written as expressions (+column), so that SQLite
    searches that column's index instead of walking the whole folder in sort order."""
    hide_index = bool(narrowing) and keys[0].column not in narrowing
    terms, params = [], []
    for key in keys:
        expression = f"+{key.expression}" if hide_index and key.column else key.expression
        terms.append(f"{expression} {'DESC' if key.descending else 'ASC'}")
        params += key.params
    terms.append(f"id {'DESC' if keys[0].descending else 'ASC'}")
    return ", ".join(terms), params


def _order_path(field_order):
    for element in field_order:
        if isinstance(element.tag, str) and is_path(element):
            path = parse_path(element)  # an invalid path is a schema fault already
            if path.kind == "field" and path.name in NOT_SORTABLE:
                raise EWSError("ErrorUnsupportedPathForSortGroup", f"Items cannot be sorted by {path.uri}.")
            return path
    raise schema_fault("FieldOrder has incomplete content: a property path is expected.")


def sort_key(path, descending):
    column = column_of(path)
    if column is not None and column.kind == RANKED:
        return Key(importance_rank_sql(column.name), (), descending)
    if column is not None:
        return Key(column.name, (), descending, column.name)
    source = path.uri if path.kind == "extended" else _path_source(path)
    return Key(f"{SORT_FUNCTION}(?, xml, {', '.join(ROW_COLUMNS)})", (source,), descending)


def _path_source(path):
    """A path as XML text, the form the SQL function receives and parses back."""
    attributes = {"FieldURI": path.uri}
    if path.kind == "indexed":
        attributes["FieldIndex"] = path.index or ""
        return etree.tostring(etree.Element(f"{{{T}}}IndexedFieldURI", attributes)).decode()
    return etree.tostring(etree.Element(f"{{{T}}}FieldURI", attributes)).decode()


@lru_cache(maxsize=128)
def _path_from_source(source):
    return parse_path(etree.fromstring(source))


def sql_sort_key(source, xml, *columns):
    """SQL function: the typed sort key of the path `source` for a row, None when missing."""
    path = _path_from_source(source)
    values = restrictions.item_values(xml, dict(zip(ROW_COLUMNS, columns)))(path) or []
    kind = value_type(path)
    for value in values:
        key = typed(value, kind, path.name)
        if key is not None:
            return key
    return None
