"""GetUserConfiguration, CreateUserConfiguration, UpdateUserConfiguration, DeleteUserConfiguration:
named settings objects that applications keep in a folder (Exchange stores each as an
associated item of class IPM.Configuration.<name>), with a dictionary, XML and binary data."""
import re

from lxml import etree

from ..model import folders, ids
from ..model.properties import utc_text
from ..wire.errors import EWSError
from ..wire.ns import local, m, sub, t
from ..wire.soap import respond_each

USER_CONFIGURATION = b"C"  # the kind byte of a user configuration's ItemId
PARTS = ("Dictionary", "XmlData", "BinaryData")
# "UserConfigurationName": fewer than 237 characters, letters, digits and dots, and not
# starting with "IPM.Configuration" (Microsoft's page on the element).
VALID_NAME = re.compile(r"[A-Za-z0-9.]{1,236}")


def _children(element):
    return {local(child): child for child in element}


def _name_and_folder(ctx, name_element):
    """(name, folders row) of a t:UserConfigurationName."""
    name = name_element.get("Name") or ""
    if not VALID_NAME.fullmatch(name) or name.lower().startswith("ipm.configuration"):
        raise EWSError("ErrorInvalidRequest", f"{name!r} is not a valid user configuration name.")
    if len(name_element) == 0:
        raise EWSError("ErrorFolderNotFound")
    return name, ctx.folder(name_element[0])


def _find(conn, folder_row, name):
    row = conn.execute("SELECT * FROM user_configurations WHERE folder_id = ? AND name = ? COLLATE NOCASE",
                       (folder_row["id"], name)).fetchone()
    if row is None:
        raise EWSError("ErrorItemNotFound", "The specified object was not found in the store.")
    return row


def _parts(configuration):
    """Column values for the parts a request's t:UserConfiguration carries."""
    given = _children(configuration)
    values = {}
    if "Dictionary" in given:
        values["dictionary"] = etree.tostring(_typed_dictionary(given["Dictionary"]))
    for part, column in (("XmlData", "xml_data"), ("BinaryData", "binary_data")):
        if part in given:
            values[column] = (given[part].text or "").strip()
    return values


def _typed_dictionary(dictionary):
    """The dictionary as Exchange keeps it: typed values, written back in canonical form
    (a Boolean sent as 1 reads back as true, a DateTime in UTC)."""
    for entry in dictionary.iter(t("DictionaryKey"), t("DictionaryValue")):
        kind = entry.findtext(t("Type"))
        for value in entry.iterfind(t("Value")):
            text = (value.text or "").strip()
            if kind == "Boolean":
                if text.lower() not in ("true", "false", "1", "0"):
                    raise EWSError("ErrorInvalidRequest", f"{text!r} is not a Boolean.")
                value.text = "true" if text.lower() in ("true", "1") else "false"
            elif kind == "DateTime":
                value.text = utc_text(text)
    return dictionary


def create_user_configuration(ctx, body):
    def handle(configuration, message):
        name, folder = _name_and_folder(ctx, _children(configuration)["UserConfigurationName"])
        exists = ctx.conn.execute("SELECT 1 FROM user_configurations WHERE folder_id = ? AND name = ? COLLATE NOCASE",
                                  (folder["id"], name)).fetchone()
        if exists:  # Exchange refuses a second object of the same name in a folder
            raise EWSError("ErrorItemSave", "The user configuration object already exists.")
        values = _parts(configuration)
        ctx.conn.execute(
            "INSERT INTO user_configurations(folder_id, name, change_key, dictionary, xml_data, binary_data)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (folder["id"], name, ids.new_change_key(), values.get("dictionary"), values.get("xml_data"),
             values.get("binary_data")))

    return respond_each("CreateUserConfiguration", list(body.iterfind(m("UserConfiguration"))), handle)


def update_user_configuration(ctx, body):
    """The parts sent replace the stored ones; parts not sent stay."""
    def handle(configuration, message):
        name, folder = _name_and_folder(ctx, _children(configuration)["UserConfigurationName"])
        row = _find(ctx.conn, folder, name)
        values = {**_parts(configuration), "change_key": ids.new_change_key()}
        assignments = ", ".join(f"{column} = ?" for column in values)
        ctx.conn.execute(f"UPDATE user_configurations SET {assignments} WHERE id = ?", (*values.values(), row["id"]))

    return respond_each("UpdateUserConfiguration", list(body.iterfind(m("UserConfiguration"))), handle)


def get_user_configuration(ctx, body):
    wanted = set((body.findtext(m("UserConfigurationProperties")) or "All").split())
    if "All" in wanted:
        wanted = {"Id", *PARTS}

    def handle(name_element, message):
        name, folder = _name_and_folder(ctx, name_element)
        row = _find(ctx.conn, folder, name)
        node = sub(message, m("UserConfiguration"))
        name_node = sub(node, t("UserConfigurationName"), Name=row["name"])
        sub(name_node, t("FolderId"), Id=folders.folder_id_text(folder), ChangeKey=folder["change_key"])
        if "Id" in wanted:
            sub(node, t("ItemId"), Id=ids.encode(USER_CONFIGURATION, folder["mailbox_id"], row["id"]),
                ChangeKey=row["change_key"])
        if "Dictionary" in wanted and row["dictionary"] is not None:
            node.append(etree.fromstring(row["dictionary"]))
        for part, column in (("XmlData", "xml_data"), ("BinaryData", "binary_data")):
            if part in wanted and row[column] is not None:
                sub(node, t(part), row[column])

    return respond_each("GetUserConfiguration", list(body.iterfind(m("UserConfigurationName"))), handle)


def delete_user_configuration(ctx, body):
    def handle(name_element, message):
        name, folder = _name_and_folder(ctx, name_element)
        ctx.conn.execute("DELETE FROM user_configurations WHERE id = ?", (_find(ctx.conn, folder, name)["id"],))

    return respond_each("DeleteUserConfiguration", list(body.iterfind(m("UserConfigurationName"))), handle)


OPERATIONS = {
    "GetUserConfiguration": get_user_configuration, "CreateUserConfiguration": create_user_configuration,
    "UpdateUserConfiguration": update_user_configuration, "DeleteUserConfiguration": delete_user_configuration,
}
