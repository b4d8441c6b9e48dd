"""GetFolder, FindFolder, CreateFolder, UpdateFolder, DeleteFolder, EmptyFolder, MoveFolder."""
from lxml import etree

from ..model import folders, items
from ..model.properties import find_extended, serialize
from ..wire import folder_permissions
from ..wire.errors import EWSError
from ..wire.ns import local, m, sub, t
from ..wire.paths import first_path, is_path, parse_path
from ..wire.schema_order import CHILD_ORDER
from ..wire.soap import respond_each
from ..query import restrictions
from ..query.paging import page_bounds, paging_attributes
from .move_items import delete_type

DEFAULT_FOLDER_NAMES = {"FolderId", "DisplayName", "TotalCount", "ChildFolderCount", "UnreadCount"}
ALL_FOLDER_NAMES = DEFAULT_FOLDER_NAMES | {"ParentFolderId", "FolderClass", "EffectiveRights", "PermissionSet"}
# MAPI properties Exchange computes for every folder, readable as extended properties
# (by tag): PidTagMessageSizeExtended, PidTagContentCount, PidTagContentUnreadCount,
# PidTagSubfolders, PidTagDisplayName, PidTagContainerClass, PidTagAttributeHidden.
COMPUTED_TAGS = {0x0E08: "Long", 0x3602: "Integer", 0x3603: "Integer", 0x360A: "Boolean", 0x3001: "String",
                 0x3613: "String", 0x10F4: "Boolean"}


class FolderShape:
    def __init__(self, element):
        self.base = (element.findtext(t("BaseShape")) if element is not None else None) or "Default"
        additional = element.find(t("AdditionalProperties")) if element is not None else None
        self.paths = [parse_path(p) for p in additional if is_path(p)] if additional is not None else []

    def names(self):
        names = {p.name for p in self.paths if p.kind == "field"} | {"FolderId"}
        if self.base == "Default":
            names |= DEFAULT_FOLDER_NAMES
        elif self.base == "AllProperties":
            names |= ALL_FOLDER_NAMES
        return names


def render_folder(conn, row, shape, parent):
    names = shape.names()
    node = sub(parent, t(row["element"]))
    total, unread, child_count = folders.counts(conn, row["id"])
    stored = etree.fromstring(row["xml"]) if row["xml"] else None
    values = {
        "FolderClass": row["folder_class"], "DisplayName": row["name"], "TotalCount": str(total),
        "ChildFolderCount": str(child_count), "UnreadCount": str(unread),
    }
    for name in CHILD_ORDER[row["element"]]:
        if name not in names and name != "ExtendedProperty":
            continue
        if name == "FolderId":
            sub(node, t("FolderId"), Id=folders.folder_id_text(row), ChangeKey=row["change_key"])
        elif name == "ParentFolderId" and row["parent_id"] is not None:
            parent_row = folders.get(conn, row["parent_id"])
            sub(node, t("ParentFolderId"), Id=folders.folder_id_text(parent_row), ChangeKey=parent_row["change_key"])
        elif name == "DistinguishedFolderId" and row["distinguished"]:
            sub(node, t(name), row["distinguished"])
        elif name == "EffectiveRights":
            rights = sub(node, t("EffectiveRights"))
            for right in ("CreateAssociated", "CreateContents", "CreateHierarchy", "Delete", "Modify", "Read"):
                sub(rights, t(right), "true")
        elif name == "ExtendedProperty":
            for path in shape.paths:
                if path.kind == "extended":
                    prop = find_extended(stored, path.uri_element()) if stored is not None else None
                    prop = prop if prop is not None else computed_property(conn, row, path)
                    if prop is not None:
                        node.append(prop)
        elif name == "PermissionSet":
            permissions = stored.find(t("PermissionSet")) if stored is not None else None
            node.append(permissions if permissions is not None else folder_permissions.default_set(row["element"]))
        elif values.get(name) is not None:
            sub(node, t(name), values[name])
    return node


def computed_property(conn, row, path):
    """An ExtendedProperty element for a property Exchange computes, or None."""
    uri = path.uri_element()
    tag = uri.get("PropertyTag")
    tag = int(tag, 16) if tag and tag.lower().startswith("0x") else int(tag) if tag else None
    if tag not in COMPUTED_TAGS or COMPUTED_TAGS[tag] != uri.get("PropertyType"):
        return None
    total, unread, child_count = folders.counts(conn, row["id"])
    value = {0x0E08: folders.size(conn, row["id"]), 0x3602: total, 0x3603: unread, 0x360A: child_count > 0,
             0x3001: row["name"], 0x3613: row["folder_class"], 0x10F4: folders.is_hidden(row)}[tag]
    if value is None:
        return None
    prop = etree.Element(t("ExtendedProperty"))
    prop.append(uri)
    sub(prop, t("Value"), ("true" if value else "false") if isinstance(value, bool) else str(value))
    return prop


def get_folder(ctx, body):
    shape = FolderShape(body.find(m("FolderShape")))

    def handle(folder_id, message):
        render_folder(ctx.conn, ctx.folder(folder_id), shape, message.find(m("Folders")))

    return respond_each("GetFolder", list(body.find(m("FolderIds"))), handle, container="Folders")


def find_folder(ctx, body):
    shape = FolderShape(body.find(m("FolderShape")))
    deep = body.get("Traversal", "Shallow") == "Deep"
    if body.get("Traversal") == "SoftDeleted":
        raise EWSError("ErrorInvalidOperation", "SoftDeleted traversal is not supported by the sandbox.")
    restriction = body.find(m("Restriction"))
    matcher = restrictions.folder_matcher(restriction[0]) if restriction is not None and len(restriction) else None
    view = body.find(m("IndexedPageFolderView"))

    def handle(parent_id, message):
        parent = ctx.folder(parent_id)
        rows = folders.descendants(ctx.conn, parent["id"]) if deep else folders.children(ctx.conn, parent["id"])
        if matcher is not None:
            rows = [r for r in rows if matcher(folder_values(ctx.conn, r))]
        start, stop = page_bounds(view, len(rows))
        root = sub(message, m("RootFolder"), **paging_attributes(start, stop, len(rows)))
        container = sub(root, t("Folders"))
        for row in rows[start:stop]:
            render_folder(ctx.conn, row, shape, container)

    return respond_each("FindFolder", list(body.find(m("ParentFolderIds"))), handle)


def folder_values(conn, row):
    """Values of a folder's properties, by element name, for restrictions."""
    total, unread, child_count = folders.counts(conn, row["id"])
    return {"DisplayName": [row["name"]], "FolderClass": [row["folder_class"]] if row["folder_class"] else [],
            "TotalCount": [str(total)], "UnreadCount": [str(unread)], "ChildFolderCount": [str(child_count)]}


def _folder_properties(conn, element, kind):
    """(display name, folder class, xml of other properties) of a folder in a request."""
    name = element.findtext(t("DisplayName"))
    folder_class = element.findtext(t("FolderClass"))
    extra = etree.Element(t("Folder"))
    for prop in element.iterfind(t("ExtendedProperty")):
        extra.append(prop)
    permissions = element.find(t("PermissionSet"))
    if permissions is not None:
        extra.append(folder_permissions.build(kind, folder_permissions.parse(conn, kind, permissions)))
    return name, folder_class, serialize(extra) if len(extra) else None


def create_folder(ctx, body):
    parent = ctx.target_folder(body.find(m("ParentFolderId")))
    shape = FolderShape(None)
    shape.base = "IdOnly"

    def handle(element, message):
        kind = local(element)
        folder_class = element.findtext(t("FolderClass"))
        if kind == "Folder" and folder_class in folders.ELEMENT_FOR_CLASS:
            kind = folders.ELEMENT_FOR_CLASS[folder_class]
        name, folder_class, xml = _folder_properties(ctx.conn, element, kind)
        row = folders.create(ctx.conn, parent, name, kind, folder_class or _default_class(kind), xml)
        render_folder(ctx.conn, row, shape, message.find(m("Folders")))

    return respond_each("CreateFolder", list(body.find(m("Folders"))), handle, container="Folders")


def _default_class(kind):
    """A t:Folder sent without FolderClass gets none (Exchange leaves PR_CONTAINER_CLASS unset:
    exchangelib then reads it back as a plain Folder); the typed elements imply theirs."""
    return {"CalendarFolder": "IPF.Appointment", "ContactsFolder": "IPF.Contact", "TasksFolder": "IPF.Task"}.get(kind)


def update_folder(ctx, body):
    shape = FolderShape(None)
    shape.base = "IdOnly"

    def handle(change, message):
        folder_id = ctx.folder(change[0])["id"]
        for update in change.find(t("Updates")):
            _apply_folder_update(ctx, folders.get(ctx.conn, folder_id), update)
        render_folder(ctx.conn, folders.get(ctx.conn, folder_id), shape, message.find(m("Folders")))

    return respond_each("UpdateFolder", list(body.find(m("FolderChanges"))), handle, container="Folders")


def _apply_folder_update(ctx, row, update):
    path = first_path(update)
    action = local(update)  # SetFolderField, AppendToFolderField or DeleteFolderField
    if path.kind == "extended":
        _update_extended(ctx, row, path, action, update)
    elif path.name == "PermissionSet":
        _update_permissions(ctx, row, action, update)
    elif path.name == "DisplayName":
        _rename(ctx, row, action, update)
    elif path.name == "FolderClass":
        _change_class(ctx, row, action, update)
    else:
        raise EWSError("ErrorInvalidPropertySet", f"The property {path.uri} cannot be changed.")


def _stored(row):
    return etree.fromstring(row["xml"]) if row["xml"] else etree.Element(t("Folder"))


def _update_extended(ctx, row, path, action, update):
    stored = _stored(row)
    existing = find_extended(stored, path.uri_element())
    if existing is not None:
        stored.remove(existing)
    if action != "DeleteFolderField":
        new = next(update.iter(t("ExtendedProperty")), None)
        if new is None:
            raise EWSError("ErrorInvalidPropertySet")
        stored.append(new)
    folders.touch(ctx.conn, row["id"], xml=serialize(stored))


def _update_permissions(ctx, row, action, update):
    """SetFolderField replaces every entry, AppendToFolderField adds entries for users without
    one, DeleteFolderField removes them all ("Folder-level permissions work with other Exchange
    Web Services operations", Microsoft's EWS blog on Exchange 2007 SP1 folder permissions).
    The Default and Anonymous entries are always there, with no rights unless given some."""
    stored = _stored(row)
    current = stored.find(t("PermissionSet"))
    if current is not None:
        stored.remove(current)
    entries = []
    if action != "DeleteFolderField":
        sent = next(update.iter(t("PermissionSet")), None)
        if sent is None:
            raise EWSError("ErrorInvalidPropertySet")
        entries = folder_permissions.parse(ctx.conn, row["element"], sent)
        if action == "AppendToFolderField":
            kept = current if current is not None else folder_permissions.default_set(row["element"])
            entries = folder_permissions.check_unique(
                folder_permissions.parse(ctx.conn, row["element"], kept) + entries)
    stored.append(folder_permissions.build(row["element"], folder_permissions.with_everyone(row["element"], entries)))
    folders.touch(ctx.conn, row["id"], xml=serialize(stored))


def _rename(ctx, row, action, update):
    value = next(update.iter(t("DisplayName")), None)
    if action == "DeleteFolderField" or value is None or not (value.text or "").strip():
        raise EWSError("ErrorInvalidPropertySet", "A folder's DisplayName cannot be deleted.")
    if not folders.is_deletable(row):
        raise EWSError("ErrorAccessDenied", "A default folder cannot be renamed.")
    clash = ctx.conn.execute("SELECT 1 FROM folders WHERE parent_id = ? AND name = ? COLLATE NOCASE AND id != ?",
                             (row["parent_id"], value.text, row["id"])).fetchone()
    if clash:
        raise EWSError("ErrorFolderExists")
    folders.touch(ctx.conn, row["id"], name=value.text)


def _change_class(ctx, row, action, update):
    """A folder's class is its type: once set, Exchange refuses to change or remove it."""
    value = None if action == "DeleteFolderField" else next(update.iter(t("FolderClass")), None)
    text = (value.text or "").strip() if value is not None else None
    if action != "DeleteFolderField" and not text:
        raise EWSError("ErrorInvalidPropertySet")
    if text == row["folder_class"]:
        return
    if row["folder_class"]:
        raise EWSError("ErrorObjectTypeChanged")
    folders.touch(ctx.conn, row["id"], folder_class=text)


def delete_folder(ctx, body):
    mode = delete_type(body)

    def handle(folder_id, message):
        row = ctx.folder(folder_id)
        if not folders.is_deletable(row):
            raise EWSError("ErrorDeleteDistinguishedFolder")
        if mode == "MoveToDeletedItems":
            target = folders.distinguished(ctx.conn, row["mailbox_id"], "deleteditems")
            if not folders.is_within(ctx.conn, row["id"], target["id"]):
                folders.touch(ctx.conn, row["id"], parent_id=target["id"])
                return
        ctx.conn.execute("DELETE FROM folders WHERE id = ?", (row["id"],))

    return respond_each("DeleteFolder", list(body.find(m("FolderIds"))), handle)


def empty_folder(ctx, body):
    mode = delete_type(body)
    delete_subfolders = body.get("DeleteSubFolders", "false").lower() == "true"

    def handle(folder_id, message):
        row = ctx.folder(folder_id)
        if row["distinguished"] in ("root", "msgfolderroot"):
            raise EWSError("ErrorCannotEmptyFolder")
        for item in ctx.conn.execute("SELECT * FROM items WHERE folder_id = ? AND is_associated = 0",
                                     (row["id"],)).fetchall():
            items.discard(ctx.conn, item, mode)
        if delete_subfolders:
            for child in folders.children(ctx.conn, row["id"]):
                if folders.is_deletable(child):
                    ctx.conn.execute("DELETE FROM folders WHERE id = ?", (child["id"],))
        folders.touch(ctx.conn, row["id"])

    return respond_each("EmptyFolder", list(body.find(m("FolderIds"))), handle)


def move_folder(ctx, body):
    target = ctx.target_folder(body.find(m("ToFolderId")))
    shape = FolderShape(None)
    shape.base = "IdOnly"

    def handle(folder_id, message):
        row = ctx.folder(folder_id)
        if not folders.is_deletable(row):
            raise EWSError("ErrorMoveDistinguishedFolder", "Distinguished folders cannot be moved.")
        if target["mailbox_id"] != row["mailbox_id"] or folders.is_within(ctx.conn, target["id"], row["id"]):
            raise EWSError("ErrorMoveCopyFailed")
        folders.check_depth(ctx.conn, target["id"], folders.subtree_height(ctx.conn, row["id"]))
        folders.touch(ctx.conn, row["id"], parent_id=target["id"])
        render_folder(ctx.conn, folders.get(ctx.conn, row["id"]), shape, message.find(m("Folders")))

    return respond_each("MoveFolder", list(body.find(m("FolderIds"))), handle, container="Folders")


OPERATIONS = {
    "GetFolder": get_folder, "FindFolder": find_folder, "CreateFolder": create_folder,
    "UpdateFolder": update_folder, "DeleteFolder": delete_folder, "EmptyFolder": empty_folder,
    "MoveFolder": move_folder,
}
