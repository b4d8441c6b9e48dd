"""FindItem: the items of a folder that match a restriction or a query string, sorted
and paged as Exchange pages them; a CalendarView lists the appointments of a window.

The restriction, the query string and the sort order become one SQL query per folder:
COUNT(*) gives TotalItemsInView, LIMIT/OFFSET the page.
"""
import weakref

from ..query import aqs, restrictions, sort
from ..query.paging import MAX_PAGE, page_bounds, paging_attributes
from ..wire.errors import EWSError
from ..wire.item_shape import ItemRenderer, ItemShape
from ..wire.ns import local, m, sub, t
from ..wire.soap import respond_each, schema_fault
from .calendar_view import calendar_view

TRAVERSALS = {"Shallow": 0, "Associated": 1}
VIEWS = ("IndexedPageItemView", "FractionalPageItemView", "SeekToConditionPageItemView", "CalendarView",
         "ContactsView")
UNSUPPORTED_VIEWS = ("SeekToConditionPageItemView", "ContactsView")


def find_item(ctx, body):
    _install_functions(ctx)
    shape_element = body.find(m("ItemShape"))
    if shape_element is None:
        raise schema_fault("The element 'FindItem' has incomplete content: ItemShape is expected.")
    shape = ItemShape.parse(shape_element)
    shape.check_for_find()
    query = ItemQuery.parse(body)
    renderer = ItemRenderer(ctx.conn, shape, for_find=True)

    def handle(folder_element, message):
        query.answer(ctx.conn, ctx.folder(folder_element), renderer, message)

    parents = body.find(m("ParentFolderIds"))
    if parents is None or len(parents) == 0:
        raise schema_fault("The element 'FindItem' has incomplete content: ParentFolderIds is expected.")
    return respond_each("FindItem", list(parents), handle)


_installed = weakref.WeakSet()  # databases that have the SQL functions below


def _install_functions(ctx):
    """Register the Python functions restrictions and sort keys call from SQL."""
    database = ctx.sandbox.database
    if database not in _installed:
        arity = 2 + len(restrictions.ROW_COLUMNS)
        database.register_function(restrictions.MATCH_FUNCTION, arity, restrictions.sql_match)
        database.register_function(sort.SORT_FUNCTION, arity, sort.sql_sort_key)
        database.register_function(aqs.FUNCTION, aqs.ARITY, aqs.sql_match)
        _installed.add(database)
    database.connection()  # registers them on this thread's connection, if that predates them


class ItemQuery:
    """What one FindItem asks, parsed once and answered per parent folder."""

    def __init__(self, associated, view, node, query_string, sort_keys):
        self.associated = associated
        self.view = view
        self.node = node
        self.query_string = query_string
        self.sort_keys = sort_keys

    @classmethod
    def parse(cls, body):
        traversal = body.get("Traversal")
        if traversal == "SoftDeleted":
            raise EWSError("ErrorInvalidRequest", "The sandbox keeps no soft-deleted items: SoftDeleted traversal "
                                                  "is not implemented.")
        if traversal not in TRAVERSALS:
            raise schema_fault(f"The 'Traversal' attribute is invalid: the value '{traversal}' is not one of "
                               "Shallow, SoftDeleted, Associated.")
        if body.find(m("GroupBy")) is not None or body.find(m("DistinguishedGroupBy")) is not None:
            raise EWSError("ErrorInvalidRequest", "The sandbox does not implement grouped FindItem (GroupBy).")
        view = next((c for c in body if isinstance(c.tag, str) and local(c) in VIEWS), None)
        if view is not None and local(view) in UNSUPPORTED_VIEWS:
            raise EWSError("ErrorInvalidRequest", f"The sandbox does not implement {local(view)}.")
        restriction = body.find(m("Restriction"))
        sort_order = body.find(m("SortOrder"))
        if view is not None and local(view) == "CalendarView" and (restriction is not None or sort_order is not None):
            raise EWSError("ErrorInvalidOperation",
                           "Restrictions and sort order may not be specified for a CalendarView.")
        query_string = body.find(m("QueryString"))
        text = (query_string.text or "").strip() if query_string is not None else ""
        return cls(TRAVERSALS[traversal], view, restrictions.parse_restriction(restriction), text or None,
                   sort.parse_sort_order(sort_order))

    # ---- answering ----
    def answer(self, conn, folder, renderer, message):
        if self.view is not None and local(self.view) == "CalendarView":
            rows, attributes = calendar_view(conn, folder, self.view)
        else:
            rows, attributes = self._page(conn, folder)
        root = sub(message, m("RootFolder"), **attributes)
        container = sub(root, t("Items"))
        for row in rows:
            renderer.render(row, container)

    def _where(self, folder):
        conditions, params = ["folder_id = ?", "is_associated = ?"], [folder["id"], self.associated]
        if self.node is not None:
            sql, node_params = restrictions.to_sql(self.node)
            conditions.append(f"({sql})")
            params += node_params
        if self.query_string:
            conditions.append(f"{aqs.FUNCTION}(?, xml, {', '.join(restrictions.ROW_COLUMNS)}) = 1")
            params.append(self.query_string)
        return " AND ".join(conditions), params

    def _page(self, conn, folder):
        where, params = self._where(folder)
        total = conn.execute(f"SELECT COUNT(*) FROM items WHERE {where}", params).fetchone()[0]
        start, stop, attributes = self._bounds(total)
        order, order_params = sort.order_by(self.sort_keys, restrictions.narrowing_columns(self.node))
        rows = conn.execute(f"SELECT * FROM items WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
                            [*params, *order_params, stop - start, start]).fetchall() if stop > start else []
        return rows, attributes

    def _bounds(self, total):
        if self.view is not None and local(self.view) == "FractionalPageItemView":
            return fractional_bounds(self.view, total)
        start, stop = page_bounds(self.view, total)
        base_point = self.view.get("BasePoint", "Beginning") if self.view is not None else "Beginning"
        return start, stop, paging_attributes(start, stop, total, base_point)


def fractional_bounds(view, total):
    """FractionalPageItemView: the page starts Numerator/Denominator of the way in."""
    try:
        numerator, denominator = int(view.get("Numerator")), int(view.get("Denominator"))
        wanted = int(view.get("MaxEntriesReturned", str(MAX_PAGE)))
    except (TypeError, ValueError):
        raise EWSError("ErrorInvalidFractionalPagingParameters")
    if denominator <= 0 or not 0 <= numerator <= denominator or wanted < 1:
        raise EWSError("ErrorInvalidFractionalPagingParameters")
    start = total * numerator // denominator
    stop = min(start + min(wanted, MAX_PAGE), total)
    return start, stop, {"NumeratorOffset": str(stop), "AbsoluteDenominator": str(total),
                         "IncludesLastItemInRange": "true" if stop >= total else "false",
                         "TotalItemsInView": str(total)}


OPERATIONS = {"FindItem": find_item}
