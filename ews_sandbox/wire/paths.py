"""Property paths as EWS names them: FieldURI, IndexedFieldURI, ExtendedFieldURI."""
from dataclasses import dataclass

from lxml import etree

from ..model.properties import element_name, extended_key
from .errors import EWSError
from .ns import local, t


@dataclass(frozen=True)
class Path:
    kind: str            # 'field', 'indexed' or 'extended'
    uri: str             # 'item:Subject'; for extended paths the ExtendedFieldURI as XML
    name: str            # the element the path reads: 'Subject', 'EmailAddresses', 'ExtendedProperty'
    index: str = None    # FieldIndex of an indexed path
    ext_key: tuple = ()  # identity of an extended property

    def uri_element(self):
        return etree.fromstring(self.uri)


def parse_path(element):
    kind = local(element)
    if kind == "FieldURI":
        uri = element.get("FieldURI")
        if not uri:
            raise EWSError("ErrorSchemaValidation", "FieldURI needs a FieldURI attribute.")
        return Path("field", uri, element_name(uri))
    if kind == "IndexedFieldURI":
        uri = element.get("FieldURI")
        return Path("indexed", uri, element_name(uri), index=element.get("FieldIndex"))
    if kind == "ExtendedFieldURI":
        copy = etree.Element(t("ExtendedFieldURI"), dict(element.attrib), nsmap={"t": element.nsmap.get("t") or etree.QName(element).namespace})
        return Path("extended", etree.tostring(copy).decode(), "ExtendedProperty", ext_key=extended_key(element))
    raise EWSError("ErrorSchemaValidation", f"Unexpected property path element {kind}.")


def is_path(element):
    return local(element) in ("FieldURI", "IndexedFieldURI", "ExtendedFieldURI")


def first_path(parent):
    for element in parent:
        if is_path(element):
            return parse_path(element)
    raise EWSError("ErrorSchemaValidation", "A property path is missing.")
