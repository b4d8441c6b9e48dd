"""EWS namespaces and small helpers to build elements in them."""
from lxml import etree

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
ERRORS = "http://schemas.microsoft.com/exchange/services/2006/errors"
NSMAP = {"s": SOAP, "m": M, "t": T}


def m(tag):
    return f"{{{M}}}{tag}"


def t(tag):
    return f"{{{T}}}{tag}"


def local(element):
    return etree.QName(element).localname


def sub(parent, tag, text=None, **attrs):
    """Append a child element; `tag` is already qualified (use m() or t())."""
    child = etree.SubElement(parent, tag, {k: v for k, v in attrs.items() if v is not None})
    if text is not None:
        child.text = text
    return child

