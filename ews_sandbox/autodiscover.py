"""SOAP Autodiscover at /autodiscover/autodiscover.svc, as Exchange 2016 serves it.

Only GetUserSettings (what exchangelib 5.x sends); GetDomainSettings and
GetFederationInformation get a SOAP fault naming them. The endpoint signs callers in as
EWS does (401 with the same challenges); an address with no mailbox gets the user
response InvalidUser, which exchangelib raises as ErrorNonExistentMailbox.
Microsoft's pages: "GetUserSettings operation (SOAP)", "ErrorCode (SOAP)", "Setting (SOAP)".
"""
import time

from lxml import etree

from .auth import AuthFailed
from .model import directory, exchange_names
from .wire import soap

AUTODISCOVER_PATH = "/autodiscover/autodiscover.svc"
ANS = "http://schemas.microsoft.com/exchange/2010/Autodiscover"
WSA = "http://www.w3.org/2005/08/addressing"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
ACTION = "http://schemas.microsoft.com/exchange/2010/Autodiscover/Autodiscover/"
# Autodiscover's own version names (not EWS's); a request without one is refused.
REQUESTED_VERSIONS = {"Exchange2010", "Exchange2010_SP1", "Exchange2010_SP2", "Exchange2013", "Exchange2013_SP1",
                      "Exchange2015", "Exchange2016"}
EWS_SCHEMAS = ("Exchange2007, Exchange2007_SP1, Exchange2010, Exchange2010_SP1, Exchange2010_SP2, Exchange2013, "
               "Exchange2013_SP1, Exchange2016")
MAX_USERS = 100
# Every setting name Exchange knows (Microsoft's "Setting (SOAP)" list); any other is InvalidSetting.
KNOWN_SETTINGS = frozenset("""
UserDisplayName UserDN UserDeploymentId InternalMailboxServer InternalRpcClientServer InternalMailboxServerDN
InternalEcpUrl InternalEcpVoicemailUrl InternalEcpEmailSubscriptionsUrl InternalEcpTextMessagingUrl
InternalEcpDeliveryReportUrl InternalEcpRetentionPolicyTagsUrl InternalEcpPublishingUrl InternalEwsUrl
InternalOABUrl InternalUMUrl InternalWebClientUrls MailboxDN PublicFolderServer ActiveDirectoryServer
ExternalMailboxServer ExternalMailboxServerRequiresSSL ExternalMailboxServerAuthenticationMethods
EcpVoicemailUrlFragment EcpEmailSubscriptionsUrlFragment EcpTextMessagingUrlFragment EcpDeliveryReportUrlFragment
EcpRetentionPolicyTagsUrlFragment EcpPublishingUrlFragment ExternalEcpUrl ExternalEcpVoicemailUrl
ExternalEcpEmailSubscriptionsUrl ExternalEcpTextMessagingUrl ExternalEcpDeliveryReportUrl
ExternalEcpRetentionPolicyTagsUrl ExternalEcpPublishingUrl ExternalEwsUrl ExternalOABUrl ExternalUMUrl
ExternalWebClientUrls CrossOrganizationSharingEnabled AlternateMailboxes CasVersion EwsSupportedSchemas
InternalPop3Connections ExternalPop3Connections InternalImap4Connections ExternalImap4Connections
InternalSmtpConnections ExternalSmtpConnections InternalServerExclusiveConnect ExternalServerExclusiveConnect
ExchangeRpcUrl ShowGalAsDefaultView AutoDiscoverSMTPAddress InteropExternalEwsUrl ExternalEwsVersion
InteropExternalEwsVersion MobileMailboxPolicyInterop GroupingInformation UserMSOnline MapiHttpEnabled
""".split())
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)


def cas_version():
    v = soap.SERVER_VERSION  # 15.01.2507.006: Exchange writes the build with leading zeros
    return (f"{int(v['MajorVersion']):02d}.{int(v['MinorVersion']):02d}."
            f"{int(v['MajorBuildNumber']):04d}.{int(v['MinorBuildNumber']):03d}")


def user_settings(sandbox, user):
    """What this server knows of a user, by setting name; the rest is SettingIsNotAvailable
    (the sandbox serves no OWA, ECP, OAB, POP, IMAP or Outlook Anywhere)."""
    email = user["email"]
    return {
        "UserDisplayName": user["name"],
        "UserDN": exchange_names.user_dn(email),
        "UserDeploymentId": str(exchange_names.deployment_id(sandbox.tenant_id)),
        "InternalMailboxServer": exchange_names.mailbox_server(email),
        "MailboxDN": exchange_names.mailbox_dn(email),
        "AutoDiscoverSMTPAddress": email,
        "CasVersion": cas_version(),
        "EwsSupportedSchemas": EWS_SCHEMAS,
        "InternalEwsUrl": sandbox.ews_url,
        "ExternalEwsUrl": sandbox.ews_url,
        "ExternalEwsVersion": cas_version(),
        "CrossOrganizationSharingEnabled": "False",
        "UserMSOnline": "False",
        "MapiHttpEnabled": "False",
    }


def handle(sandbox, environ, start_response, body):
    started = time.perf_counter()
    log = {"operation": _operation_name(body), "user": None}

    def finish(status, headers, payload):
        sandbox.request_log.add(log["operation"], int(status.split()[0]), len(body), len(payload), started,
                                None, log["user"])
        start_response(status, headers + [("Content-Length", str(len(payload)))])
        return [payload]

    try:  # IIS signs the caller in before the service sees anything
        user = sandbox.authenticate(environ, environ.get("ews_sandbox.connection"))
    except AuthFailed as failed:
        headers = [("WWW-Authenticate", failed.challenge)] if failed.challenge else [
            ("WWW-Authenticate", challenge) for challenge in sandbox.challenges()]
        return finish("401 Unauthorized", headers + failed.headers + [("Content-Type", "text/plain")],
                      b"401 Unauthorized\n")
    log["user"] = user["email"]
    if environ["REQUEST_METHOD"] != "POST":
        return finish("405 Method Not Allowed", [("Content-Type", "text/plain")], b"POST SOAP requests here.\n")
    try:
        header, request = _parse(body)
    except ValueError as error:
        return finish("500 Internal Server Error", _XML, _fault("InvalidRequest", str(error)))
    operation = log["operation"]
    if operation != "GetUserSettings":
        return finish("500 Internal Server Error", _XML,
                      _fault("InvalidRequest", f"The EWS sandbox does not implement the Autodiscover operation "
                                               f"{operation}."))
    with sandbox.database.transaction() as conn:
        response = _get_user_settings(sandbox, conn, header, request)
    return finish("200 OK", _XML, _render(operation, response))


def _get_user_settings(sandbox, conn, header, request):
    message = etree.Element(f"{{{ANS}}}GetUserSettingsResponseMessage", nsmap={None: ANS})
    response = etree.SubElement(message, f"{{{ANS}}}Response", nsmap={"i": XSI})
    version = header.findtext(f"{{{ANS}}}RequestedServerVersion") if header is not None else None
    mailboxes = [(m.text or "").strip() for m in request.iterfind(f".//{{{ANS}}}User/{{{ANS}}}Mailbox")]
    requested = [(s.text or "").strip() for s in request.iterfind(f".//{{{ANS}}}RequestedSettings/{{{ANS}}}Setting")]
    if (version or "").strip() not in REQUESTED_VERSIONS:
        return _request_error(message, response, "InvalidRequest",
                              "The RequestedServerVersion header is missing or invalid.")
    if not mailboxes or len(mailboxes) > MAX_USERS:
        return _request_error(message, response, "InvalidRequest",
                              f"The request must name between 1 and {MAX_USERS} users.")
    if not requested:
        return _request_error(message, response, "InvalidRequest", "The request names no settings.")
    _add(response, "ErrorCode", "NoError")
    _add(response, "ErrorMessage", "")
    responses = _add(response, "UserResponses")
    for address in mailboxes:
        _user_response(sandbox, responses, directory.user_by_email(conn, address), address, requested)
    return message


def _user_response(sandbox, parent, user, address, requested):
    node = _add(parent, "UserResponse")
    if user is None:
        _add(node, "ErrorCode", "InvalidUser")
        _add(node, "ErrorMessage", f"Invalid user '{address}'.")
        etree.SubElement(node, f"{{{ANS}}}RedirectTarget", {f"{{{XSI}}}nil": "true"})
        _add(node, "UserSettingErrors")
        _add(node, "UserSettings")
        return
    _add(node, "ErrorCode", "NoError")
    _add(node, "ErrorMessage", "No error.")
    etree.SubElement(node, f"{{{ANS}}}RedirectTarget", {f"{{{XSI}}}nil": "true"})
    known = user_settings(sandbox, user)
    errors, settings = _add(node, "UserSettingErrors"), _add(node, "UserSettings")
    for name in dict.fromkeys(requested):
        if name in known:
            setting = etree.SubElement(settings, f"{{{ANS}}}UserSetting", {f"{{{XSI}}}type": "StringSetting"})
            _add(setting, "Name", name)
            _add(setting, "Value", known[name])
            continue
        code, text = (("SettingIsNotAvailable", f"User setting '{name}' is not available. ")
                      if name in KNOWN_SETTINGS else ("InvalidSetting", f"Setting '{name}' is invalid."))
        error = _add(errors, "UserSettingError")
        _add(error, "ErrorCode", code)
        _add(error, "ErrorMessage", text)
        _add(error, "SettingName", name)


def _request_error(message, response, code, text):
    _add(response, "ErrorCode", code)
    _add(response, "ErrorMessage", text)
    _add(response, "UserResponses")
    return message


def _operation_name(body):
    """For the request log, before sign-in (as EWS requests are logged)."""
    try:
        return etree.QName(_parse(body)[1]).localname.removesuffix("RequestMessage")
    except ValueError:
        return "Autodiscover"


def _parse(body):
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as error:
        raise ValueError(f"The request is not valid XML: {error}")
    soap_body = root.find(f"{{{soap.SOAP}}}Body")
    if root.tag != f"{{{soap.SOAP}}}Envelope" or soap_body is None or len(soap_body) == 0:
        raise ValueError("The request is not a SOAP envelope with a body.")
    request = soap_body[0]
    if etree.QName(request).namespace != ANS:
        raise ValueError(f"Unexpected element {request.tag} in the SOAP body.")
    return root.find(f"{{{soap.SOAP}}}Header"), request


def _render(operation, message):
    root = etree.Element(f"{{{soap.SOAP}}}Envelope", nsmap={"s": soap.SOAP, "a": WSA})
    header = etree.SubElement(root, f"{{{soap.SOAP}}}Header")
    action = etree.SubElement(header, f"{{{WSA}}}Action", {f"{{{soap.SOAP}}}mustUnderstand": "1"})
    action.text = f"{ACTION}{operation}Response"
    info = etree.SubElement(header, f"{{{ANS}}}ServerVersionInfo", nsmap={"h": ANS, "i": XSI})
    version = soap.SERVER_VERSION
    for name in ("MajorVersion", "MinorVersion", "MajorBuildNumber", "MinorBuildNumber"):
        etree.SubElement(info, f"{{{ANS}}}{name}").text = version[name]
    etree.SubElement(info, f"{{{ANS}}}Version").text = "Exchange2015"  # Autodiscover's name for 15.1
    etree.SubElement(root, f"{{{soap.SOAP}}}Body").append(message)
    return soap.render(root)


def _fault(code, text):
    root = etree.Element(f"{{{soap.SOAP}}}Envelope", nsmap={"s": soap.SOAP})
    fault = etree.SubElement(etree.SubElement(root, f"{{{soap.SOAP}}}Body"), f"{{{soap.SOAP}}}Fault")
    etree.SubElement(fault, "faultcode", nsmap={"a": ANS}).text = f"a:{code}"
    string = etree.SubElement(fault, "faultstring")
    string.set("{http://www.w3.org/XML/1998/namespace}lang", "en-US")
    string.text = text
    return soap.render(root)


def _add(parent, name, text=None):
    child = etree.SubElement(parent, f"{{{ANS}}}{name}")
    child.text = text
    return child


_XML = [("Content-Type", "text/xml; charset=utf-8")]
