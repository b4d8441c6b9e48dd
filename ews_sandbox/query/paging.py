"""Indexed paged views (IndexedPageItemView, IndexedPageFolderView).

Exchange's default throttling policy returns at most 1,000 entries a page
(EWSFindCountLimit); a larger MaxEntriesReturned is cut to that, and the answer then
says the last item was not in range so the client asks for the next page.
"""
from ..wire.errors import EWSError

MAX_PAGE = 1000


def page_bounds(view, total):
    """(start, stop) indexes into a result of `total` rows for a paged view element."""
    if view is None:
        return 0, min(total, MAX_PAGE)
    try:
        offset = int(view.get("Offset", "0"))
        wanted = int(view.get("MaxEntriesReturned", str(MAX_PAGE)))
    except ValueError:
        raise EWSError("ErrorInvalidIndexedPagingParameters", "Offset and MaxEntriesReturned must be integers.")
    if offset < 0:
        raise EWSError("ErrorInvalidIndexedPagingParameters", "The offset must not be negative.")
    if wanted < 1:
        raise EWSError("ErrorInvalidPagingMaxRows")
    wanted = min(wanted, MAX_PAGE)
    if view.get("BasePoint", "Beginning") == "End":
        stop = max(total - offset, 0)
        return max(stop - wanted, 0), stop
    start = min(offset, total)
    return start, min(start + wanted, total)


def paging_attributes(start, stop, total, base_point="Beginning"):
    return {
        "IndexedPagingOffset": str(stop if base_point == "Beginning" else total - start),
        "TotalItemsInView": str(total),
        "IncludesLastItemInRange": "true" if stop >= total else "false",
    }
