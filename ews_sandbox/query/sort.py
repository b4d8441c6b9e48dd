"""Sort orders (m:SortOrder) as SQL ORDER BY clauses.

A property with a column sorts on the column (and its index, for DateTimeReceived);
any other property sorts on a key computed in Python from the item's XML. Keys are
typed as restrictions type them (UTC datetimes, numbers, case-folded text), a missing
property has a NULL key, so it sorts first ascending and last descending, as on
Exchange. Every order ends with the item id, so that pages never overlap or skip.
"""
from functools import lru_cache

from lxml import etree

from ..wire.errors import EWSError
from ..wire.ns import local
from ..wire.paths import is_path, parse_path
from ..wire.soap import schema_fault
from . import restrictions
from .restrictions import RANKED, ROW_COLUMNS, column_of, importance_rank_sql, typed, value_type

SORT_FUNCTION = "ews_sort_key"
# Without a SortOrder Exchange lists a folder newest first.
DEFAULT_ORDER = ("received DESC, id DESC", [])


def order_by(sort_order):
    """(ORDER BY clause without the keywords, parameters) for an m:SortOrder element or None."""
    if sort_order is None:
        return DEFAULT_ORDER
    terms, params = [], []
    for field_order in sort_order:
        if not isinstance(field_order.tag, str):
            continue
        if local(field_order) != "FieldOrder":
            raise schema_fault(f"The element '{local(field_order)}' is not valid in SortOrder; expected FieldOrder.")
        direction = field_order.get("Order")
        if direction not in ("Ascending", "Descending"):
            raise schema_fault("FieldOrder needs an Order attribute of Ascending or Descending.")
        expression, expression_params = sort_expression(_order_path(field_order))
        terms.append(f"{expression} {'ASC' if direction == 'Ascending' else 'DESC'}")
        params += expression_params
    if not terms:
        raise schema_fault("The element 'SortOrder' has incomplete content: FieldOrder is expected.")
    terms.append(f"id {terms[0].rsplit(' ', 1)[1]}")  # ties follow the first key's direction
    return ", ".join(terms), params


def _order_path(field_order):
    for element in field_order:
        if isinstance(element.tag, str) and is_path(element):
            try:
                return parse_path(element)
            except EWSError as e:
                raise schema_fault(e.text)
    raise schema_fault("FieldOrder has incomplete content: a property path is expected.")


def sort_expression(path):
    column = column_of(path)
    if column is not None:
        return (importance_rank_sql(column.name) if column.kind == RANKED else column.name), []
    source = path.uri if path.kind == "extended" else _path_source(path)
    return f"{SORT_FUNCTION}(?, xml, {', '.join(ROW_COLUMNS)})", [source]


def _path_source(path):
    """A path as XML text, the form the SQL function receives and parses back."""
    attributes = {"FieldURI": path.uri}
    if path.kind == "indexed":
        attributes["FieldIndex"] = path.index or ""
        return etree.tostring(etree.Element(f"{{{restrictions.T}}}IndexedFieldURI", attributes)).decode()
    return etree.tostring(etree.Element(f"{{{restrictions.T}}}FieldURI", attributes)).decode()


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
