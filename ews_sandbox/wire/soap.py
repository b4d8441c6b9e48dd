"""SOAP envelopes: parse what exchangelib posts, render what Exchange answers."""
import logging
import sqlite3
import traceback
from dataclasses import dataclass

from lxml import etree

from ..model.db import element_scope
from .errors import EWSError, SOAPFault
from .ns import ERRORS, NSMAP, SOAP, M, T, local, m, sub, t

# Exchange 2016 CU23; the Version attribute is what such a server reports.
SERVER_VERSION = {
    "MajorVersion": "15", "MinorVersion": "1", "MajorBuildNumber": "2507",
    "MinorBuildNumber": "6", "Version": "V2017_07_11",
}
log = logging.getLogger(__name__)
# Comments and processing instructions carry nothing for EWS: dropped, so that handlers see elements only.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, remove_blank_text=True,
                          remove_comments=True, remove_pis=True)


@dataclass
class SoapRequest:
    operation: str
    body: etree._Element  # the m:<Operation> element
    impersonate: str | None  # primary SMTP address from ExchangeImpersonation


def parse_request(data):
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as e:
        raise schema_fault(f"The request failed schema validation: {e}")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:  # entities would be stored unresolved
        raise schema_fault("The request failed schema validation: DTD is prohibited in this XML document.")
    if root.tag != f"{{{SOAP}}}Envelope":
        raise schema_fault("The request failed schema validation: the root element is not a SOAP envelope.")
    body = root.find(f"{{{SOAP}}}Body")
    if body is None or len(body) == 0:
        raise schema_fault("The request failed schema validation: the SOAP body is empty.")
    operation = body[0]
    if etree.QName(operation).namespace != M:  # not an EWS request at all: Exchange answers ErrorInvalidRequest
        raise SOAPFault("ErrorInvalidRequest", "The request is invalid.", fault_code="a:ErrorInvalidRequest")
    header = root.find(f"{{{SOAP}}}Header")
    impersonation = header.find(t("ExchangeImpersonation")) if header is not None else None
    impersonate = _impersonated_address(impersonation) if impersonation is not None else None
    return SoapRequest(local(operation), operation, impersonate)


def _impersonated_address(impersonation):
    """The address an ExchangeImpersonation header names. The sandbox's user principal
    names are their addresses; it has no security identifiers, so a SID is refused
    rather than ignored (acting as the caller instead would be a silent surprise)."""
    sid = impersonation.find(t("ConnectingSID"))
    named = [c for c in (sid if sid is not None else []) if isinstance(c.tag, str)]
    if len(named) != 1 or not (named[0].text or "").strip():
        raise schema_fault("The request failed schema validation: ConnectingSID needs one of PrincipalName, SID, "
                           "PrimarySmtpAddress or SmtpAddress.")
    kind, value = local(named[0]), named[0].text.strip()
    if kind in ("PrimarySmtpAddress", "SmtpAddress", "PrincipalName"):
        return value
    if kind == "SID":
        raise SOAPFault("ErrorImpersonationFailed", "The sandbox's users have no security identifiers: "
                        "impersonate by PrimarySmtpAddress, SmtpAddress or PrincipalName.",
                        fault_code="a:ErrorImpersonationFailed")
    raise schema_fault(f"The request failed schema validation: unexpected element {kind} in ConnectingSID.")


def operation_name(data):
    """The operation a request names, or None when it is not a valid request."""
    try:
        return parse_request(data).operation
    except SOAPFault:
        return None


def is_busy(error):
    """SQLite gave up waiting for another process's write lock."""
    return isinstance(error, sqlite3.OperationalError) and ("locked" in str(error) or "busy" in str(error))


def schema_fault(text):
    return SOAPFault("ErrorSchemaValidation", text, fault_code="a:ErrorSchemaValidation",
                     message_xml=[("LineNumber", "0"), ("LinePosition", "0"), ("Violation", text)])


def envelope(response_element):
    root = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"s": SOAP})
    header = sub(root, f"{{{SOAP}}}Header")
    etree.SubElement(header, t("ServerVersionInfo"), SERVER_VERSION, nsmap={"h": T})
    body = sub(root, f"{{{SOAP}}}Body")
    body.append(response_element)
    return root


def render(root):
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def response_element(operation):
    return etree.Element(m(f"{operation}Response"), nsmap={"m": M, "t": T})


def fault_envelope(fault):
    root = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"s": SOAP})
    if fault.code != "ErrorServerBusy":  # Exchange sends the version header except when throttling
        header = sub(root, f"{{{SOAP}}}Header")
        etree.SubElement(header, t("ServerVersionInfo"), SERVER_VERSION, nsmap={"h": T})
    body = sub(root, f"{{{SOAP}}}Body")
    node = sub(body, f"{{{SOAP}}}Fault")
    code = etree.SubElement(node, "faultcode", nsmap={"a": T})
    code.text = fault.fault_code
    etree.SubElement(node, "faultstring").text = fault.text
    detail = etree.SubElement(node, "detail")
    etree.SubElement(detail, f"{{{ERRORS}}}ResponseCode", nsmap={"e": ERRORS}).text = fault.code
    etree.SubElement(detail, f"{{{ERRORS}}}Message", nsmap={"e": ERRORS}).text = fault.text
    if fault.message_xml:
        xml = etree.SubElement(detail, t("MessageXml"), nsmap={"t": T})
        for name, value in fault.message_xml:
            if name == "BackOffMilliseconds":
                sub(xml, t("Value"), value, Name=name)
            else:
                sub(xml, t(name), value)
    return root


def response_message(parent, operation, error=None):
    """Append an <m:{operation}ResponseMessage>; with `error`, shaped as a failure."""
    node = sub(parent, m(f"{operation}ResponseMessage"))
    mark_outcome(node, error)
    if error is not None and error.message_xml:
        xml = sub(node, m("MessageXml"))
        for name, value in error.message_xml:
            sub(xml, t("Value"), value, Name=name)
    return node


def mark_outcome(node, error=None):
    """The ResponseClass and the leading children every response message (and the answers
    shaped like one, such as GetInboxRules') begins with."""
    node.set("ResponseClass", "Error" if error else "Success")
    if error is None:
        sub(node, m("ResponseCode"), "NoError")
        return
    sub(node, m("MessageText"), error.text)
    sub(node, m("ResponseCode"), error.code)
    sub(node, m("DescriptiveLinkKey"), "0")


def respond_each(operation, inputs, handle, container=None):
    """One response message per input: `handle(input, message)` fills a success message
    or raises EWSError, which becomes that element's error message (Exchange goes on
    with the next element). `container` names an element every message carries."""
    response = response_element(operation)
    messages = sub(response, m("ResponseMessages"))
    for item in inputs:
        try:
            node = etree.Element(m("scratch"))
            if container:
                sub(node, m(container))
            with element_scope():  # a failed element's writes are undone, the others' kept
                handle(item, node)
            message = response_message(messages, operation)
        except EWSError as e:
            message = response_message(messages, operation, e)
            node = etree.Element(m("scratch"))
            if container:
                sub(node, m(container))
        except Exception as e:  # one bad element must not break the batch (nor a folder for good)
            if isinstance(e, SOAPFault) or is_busy(e):
                raise  # the request as a whole: a schema fault, or the database busy
            log.error("sandbox failure in an element of %s:\n%s", operation, traceback.format_exc())
            message = response_message(messages, operation, EWSError(
                "ErrorInternalServerError", f"The sandbox failed on this element of {operation}; see its log."))
            node = etree.Element(m("scratch"))
            if container:
                sub(node, m(container))
        for child in list(node):
            message.append(child)
    return response


__all__ = ["SoapRequest", "parse_request", "envelope", "render", "response_element", "fault_envelope",
           "response_message", "respond_each", "schema_fault", "NSMAP", "EWSError", "SOAPFault"]
