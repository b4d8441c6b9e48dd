"""Recording a run's EWS traffic for tests, and replaying it: the testing kit's hook in the scripts.

EWS_RECORD=DIR: every HTTP exchange of the run (EWS, autodiscover, sign-in requests) is written
to DIR as it happens: DIR/recording.json lists them, and each request and answer is a file of
its own (0003-FindItem.request.xml, 0003-FindItem.response.xml), pretty-printed. Secrets never
reach the files: Authorization and cookie headers are dropped, NTLM challenges, passwords,
client secrets, codes and tokens are replaced (a JWT keeps its claims but loses its signature,
so it proves nothing), and the values of EWS_PASSWORD and EWS_CLIENT_SECRET are removed
wherever they appear.

EWS_RECORD_PSEUDONYMS=1 also replaces personal data by pseudonyms, the same original always by
the same pseudonym: addresses, people's names, subjects, bodies, attachment names and contents,
MIME content, message headers, host names, and item, folder and attachment ids (so an id an
answer gave is still the id a later request sends). Pseudonyms are keyed by DIR/.pseudonym-key
(kept out of git by DIR/.gitignore): runs recorded into one DIR agree with each other.
Then a recording of a real tenant can be committed (read it first: extended property values
and folder names are kept).

EWS_REPLAY=DIR: the run is answered from the recording in DIR (ews_sandbox/replay.py of this
bundle) and every network connection is refused, so the script runs offline; without a
server configured it asks no sandbox. A request the recording does not hold fails with a diff
against the closest recorded one; recorded exchanges never asked for are named on stderr.
EWS_REPLAY_LOG=FILE writes, at exit, which answers were given and when (JSON), for tests.

What is not recorded: a request that got no answer (a dropped connection, a timeout), and the
sandbox's admin API. A streaming answer (GetStreamingEvents) is written once it has ended.

ews_config.py imports this module only when EWS_RECORD or EWS_REPLAY is set: a script copied
without it runs as before. It needs nothing but requests and lxml (exchangelib's own).
"""
import base64
import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import sys
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

INDEX = "recording.json"
FORMAT = 1
KEY_FILE = ".pseudonym-key"

# Form fields, JSON keys and query parameters that carry credentials.
SECRET_KEYS = {"password", "passwd", "client_secret", "client_assertion", "assertion", "refresh_token", "access_token",
               "id_token", "code", "device_code", "code_verifier", "session_state", "token", "admin_token"}
TOKEN_KEYS = {"access_token", "id_token"}  # a JWT there becomes an unsigned stand-in with its claims
IDENTITY_CLAIMS = {"name", "preferred_username", "upn", "unique_name", "email", "given_name", "family_name",
                   "login_hint", "username", "login", "oid", "sub", "puid", "ipaddr"}
REQUEST_HEADERS = {"content-type", "soapaction"}
RESPONSE_HEADERS = {"content-type", "www-authenticate", "retry-after", "location", "x-ms-diagnostics",
                    "ms-diagnostics-public", "connection"}
ADDRESS = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
JWT = re.compile(r"eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*")
HIDDEN_SECRET = re.compile(r'(name="(?:%s)"\s+value=")[^"]*' % "|".join(sorted(SECRET_KEYS | {"client_info", "state"})))
URL = re.compile(r"(https?://)([^/\s\"'<>:]+)")
SOAP_OPERATION = re.compile(r"<(?:[\w-]+:)?Body(?:\s[^>]*)?>\s*<(?:[\w-]+:)?(\w+)")
PUBLIC_HOSTS = {"localhost", "127.0.0.1", "::1", "login.microsoftonline.com", "outlook.office365.com",
                "schemas.microsoft.com", "schemas.xmlsoap.org", "www.w3.org", "login.windows.net"}
REDACTED = "[redacted]"


def install(settings):
    """Called by ews_config.Connection before it connects, when EWS_RECORD or EWS_REPLAY is set."""
    replay = settings.get("EWS_REPLAY")
    if replay:
        if settings.get("EWS_RECORD"):
            raise _config_error("set EWS_RECORD or EWS_REPLAY, not both")
        _replay(settings, replay)
    else:
        start_recording(settings.get("EWS_RECORD"), pseudonyms=settings.flag("EWS_RECORD_PSEUDONYMS"),
                        secrets=[os.environ.get(name) for name in ("EWS_PASSWORD", "EWS_CLIENT_SECRET")])


def _config_error(message):
    from ews_config import ConfigError
    return ConfigError(message)


# ---- recording ----------------------------------------------------------------------

def start_recording(directory, pseudonyms=False, secrets=()):
    """Record every exchange of every requests session in this process into `directory`."""
    import requests.adapters
    recorder = Recorder(directory, pseudonyms=pseudonyms, secrets=secrets)
    original = requests.adapters.HTTPAdapter.send

    def send(adapter, request, **kwargs):
        response = original(adapter, request, **kwargs)
        recorder.write(request, response)
        return response

    send.ews_original = original
    requests.adapters.HTTPAdapter.send = send
    return recorder


def stop_recording():
    import requests.adapters
    original = getattr(requests.adapters.HTTPAdapter.send, "ews_original", None)
    if original is not None:
        requests.adapters.HTTPAdapter.send = original


@contextlib.contextmanager
def recording(directory, pseudonyms=False, secrets=()):
    """Record the exchanges of the code inside the block (any exchangelib Account, any server)."""
    recorder = start_recording(directory, pseudonyms=pseudonyms, secrets=secrets)
    try:
        yield recorder
    finally:
        stop_recording()


class Recorder:
    def __init__(self, directory, pseudonyms=False, secrets=()):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.pseudonyms = Pseudonyms(self.directory) if pseudonyms else None
        self.secrets = _secret_forms(secrets)

    def write(self, request, response):
        url = request.url or ""
        if "/_sandbox/" in url:  # the sandbox's admin API: not the traffic under test
            return
        content = _rearm(response)
        with _locked(self.directory):
            index = read_index(self.directory)
            index["pseudonyms"] = index.get("pseudonyms", False) or self.pseudonyms is not None
            number = len(index["exchanges"]) + 1
            body = request.body.encode() if isinstance(request.body, str) else request.body
            if body is not None and not isinstance(body, bytes):
                body = b"(a streamed body, not recorded)"
            operation = operation_of(body or b"", url)
            entry = {"operation": operation, "method": request.method, "url": self.clean_url(url),
                     "request_headers": self.headers(request.headers, REQUEST_HEADERS),
                     "status": response.status_code, "reason": response.reason,
                     "response_headers": self.headers(response.headers, RESPONSE_HEADERS)}
            stem = f"{number:04d}-{re.sub(r'[^A-Za-z0-9]+', '-', operation).strip('-') or 'request'}"
            entry["request"] = self.save(stem + ".request", body, request.headers.get("Content-Type"))
            entry["response"] = self.save(stem + ".response", content, response.headers.get("Content-Type"))
            index["exchanges"].append(entry)
            write_index(self.directory, index)

    def headers(self, headers, kept):
        result = {}
        for name, value in headers.items():
            if name.lower() not in kept:
                continue
            if name.lower() == "www-authenticate":  # an NTLM or Negotiate challenge: redacted, scheme kept
                value = re.sub(r"\b(NTLM|Negotiate|Kerberos)\s+[A-Za-z0-9+/=]{8,}", rf"\1 {REDACTED}", value)
            if name.lower() == "location":
                value = self.clean_url(value)
            result[name] = self.text(value)
        return result

    def clean_url(self, url):
        parts = urlsplit(url)
        query = urlencode([(k, REDACTED if k.lower() in SECRET_KEYS | {"client_info"} else self.text(v))
                           for k, v in parse_qsl(parts.query, keep_blank_values=True)])
        host = parts.netloc
        if self.pseudonyms is not None:
            name, sep, port = host.partition(":")
            host = self.pseudonyms.host(name) + sep + port
        return urlunsplit((parts.scheme, host, self.text(parts.path), query, ""))

    def text(self, value):
        """Known secrets, then (pseudonyms on) addresses and the personal values seen so far."""
        for literal in self.secrets:
            value = value.replace(literal, REDACTED)
        if self.pseudonyms is not None:
            value = self.pseudonyms.free_text(value)
        return value

    def save(self, stem, body, content_type):
        if not body:
            return None
        kind = _kind(body, content_type)
        if kind == "xml":
            data, suffix = self.xml(body), ".xml"
        elif kind == "json":
            data, suffix = self.json(body), ".json"
        elif kind == "form":
            data, suffix = self.form(body), ".txt"
        else:
            text = body.decode("utf-8", "replace")
            text = JWT.sub(lambda m: stand_in_token(m.group(0), self.pseudonyms), HIDDEN_SECRET.sub(rf"\1{REDACTED}", text))
            data, suffix = self.text(text).encode(), ".txt"
        (self.directory / (stem + suffix)).write_bytes(data)
        return stem + suffix

    def xml(self, body):
        from lxml import etree
        try:
            root = etree.fromstring(body, etree.XMLParser(remove_blank_text=True, resolve_entities=False,
                                                          huge_tree=True))
        except etree.XMLSyntaxError:
            return self.text(body.decode("utf-8", "replace")).encode()
        if self.pseudonyms is not None:
            self.pseudonyms.xml(root)
        for node in root.iter():
            if isinstance(node.tag, str):
                if node.text:
                    node.text = self.text(node.text)
                for name, value in node.attrib.items():
                    node.set(name, self.text(value))
        return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)

    def json(self, body):
        try:
            value = json.loads(body)
        except ValueError:
            return self.text(body.decode("utf-8", "replace")).encode()
        return (json.dumps(self.scrub_json(value), indent=2, ensure_ascii=False) + "\n").encode()

    def scrub_json(self, value, key=""):
        if isinstance(value, dict):
            return {k: self.scrub_json(v, k.lower()) for k, v in value.items()}
        if isinstance(value, list):
            return [self.scrub_json(v, key) for v in value]
        if not isinstance(value, str):
            return value
        if key in TOKEN_KEYS and JWT.fullmatch(value):
            return stand_in_token(value, self.pseudonyms)
        if key in SECRET_KEYS:
            return REDACTED
        if key == "client_info":
            return _b64url(json.dumps({"uid": self._hashed(value, "uid"), "utid": self._hashed(value, "utid")}))
        if self.pseudonyms is not None and key in IDENTITY_CLAIMS:
            return self.pseudonyms.person(value) if "@" not in value else self.pseudonyms.address(value)
        return self.text(JWT.sub(lambda m: stand_in_token(m.group(0), self.pseudonyms), value))

    def _hashed(self, value, label):
        return hashlib.sha256(f"{label}:{value}".encode()).hexdigest()[:32]

    def form(self, body):
        pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        cleaned = []
        for key, value in pairs:
            if key.lower() in SECRET_KEYS | {"client_info"}:
                value = REDACTED
            elif self.pseudonyms is not None and key.lower() in IDENTITY_CLAIMS:
                value = self.pseudonyms.address(value) if "@" in value else self.pseudonyms.person(value)
            cleaned.append((key, self.text(value)))
        return urlencode(cleaned).encode()


def _rearm(response):
    """Read the answer, then give the response a fresh raw stream over the same bytes, so the
    caller reads it as if untouched (exchangelib streams attachments from response.raw)."""
    import io
    from types import SimpleNamespace
    from urllib3 import HTTPResponse
    try:  # requests_ntlm reads the server's certificate (channel binding) through the raw answer's socket
        sock = response.raw._fp.fp.raw._sock
    except AttributeError:
        sock = None
    content = response.content
    headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-encoding", "transfer-encoding")}
    headers["Content-Length"] = str(len(content))
    body = io.BytesIO(content)
    body.fp = SimpleNamespace(raw=SimpleNamespace(_sock=sock))
    response.raw = HTTPResponse(body=body, headers=headers, status=response.status_code,
                                reason=response.reason, preload_content=False, decode_content=False)
    response._content, response._content_consumed = False, False
    return content


def _kind(body, content_type):
    content_type = (content_type or "").lower()
    start = body.lstrip()[:1]
    if "json" in content_type or start in (b"{", b"["):
        return "json"
    if "x-www-form-urlencoded" in content_type:
        return "form"
    if "xml" in content_type or body.lstrip().startswith((b"<?xml", b"<s:", b"<soap", b"<S:", b"<Envelope")):
        return "xml" if b"<html" not in body[:200].lower() else "text"
    return "text"


def operation_of(body, url=""):
    """The EWS operation a request body names (FindItem), else what the URL says (token, GET path).
    ews_sandbox/replay.py names requests by the same rule; this copy lets recording work where
    only scripts/ was copied (the sandbox may import nothing from scripts/)."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body or ""
    found = SOAP_OPERATION.search(text)
    if found:
        name = found.group(1)
        return re.sub(r"Request(Message)?$", "", name)  # GetUserSettingsRequestMessage, GetUserOofSettingsRequest
    path = urlsplit(url).path.rstrip("/")
    last = path.rsplit("/", 1)[-1] if path else ""
    if last in ("token", "devicecode", "authorize"):
        return last
    if "openid-configuration" in path:
        return "openid-configuration"
    return "empty" if not text.strip() else (last or "request")


def read_index(directory):
    path = Path(directory) / INDEX
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    return {"format": FORMAT, "recorded_with": "scripts/ews_record.py (EWS_RECORD)", "pseudonyms": False,
            "exchanges": []}


def write_index(directory, index):
    path = Path(directory) / INDEX
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(index, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    temporary.replace(path)


@contextlib.contextmanager
def _locked(directory):
    """Several processes may record into one folder in turn (a session of several scripts): they
    take turns by a lock on the folder itself, which leaves no file behind."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def _secret_forms(literals):
    from urllib.parse import quote, quote_plus
    forms = {form for value in literals if value and len(value) >= 4
             for form in (value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1])}
    return sorted(forms, key=len, reverse=True)


def _b64url(text):
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def stand_in_token(token, pseudonyms=None):
    """A JWT with its claims (identity claims pseudonymized when asked) and no signature: it shows
    what the token granted (aud, roles, scp) and authenticates nowhere."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return REDACTED
    if not isinstance(claims, dict):
        return REDACTED
    claims.pop("nonce", None)
    claims.pop("at_hash", None)
    if pseudonyms is not None:
        for name in IDENTITY_CLAIMS & set(claims):
            value = str(claims[name])
            claims[name] = pseudonyms.address(value) if "@" in value else pseudonyms.person(value)
    return f"{_b64url(json.dumps({'alg': 'none', 'typ': 'JWT'}))}.{_b64url(json.dumps(claims))}.{REDACTED}"


# ---- pseudonyms ------------------------------------------------------------------------

PERSON_ELEMENTS = {"GivenName", "Surname", "MiddleName", "Nickname", "Initials", "FullName", "FirstName",
                   "LastName", "YomiFirstName", "YomiLastName", "AssistantName", "Manager", "SpouseName",
                   "UserDisplayName", "CompanyName", "JobTitle", "Department", "OfficeLocation", "PhoneNumber",
                   "Entry", "Street", "City", "PostalCode"}
NAME_LIST_ELEMENTS = {"DisplayTo", "DisplayCc", "DisplayBcc"}
SUBJECT_ELEMENTS = {"Subject", "ConversationTopic", "Location"}
BODY_ELEMENTS = {"Body", "TextBody", "UniqueBody", "NormalizedBody", "Preview", "ReplyBody", "Message",
                 "InternalReply", "ExternalReply", "Notes"}
ID_ATTRIBUTES = {"Id", "ChangeKey", "RootItemId", "RootItemChangeKey"}
ID_ELEMENTS = {"SubscriptionId", "SyncState", "Watermark", "PreviousWatermark", "ItemId", "InternetMessageId",
               "InReplyTo", "References", "UserDN", "Alias", "ObjectGuid", "LegacyDN"}
NOT_IDS = {"DistinguishedFolderId", "ExtendedFieldURI", "FieldURI", "IndexedFieldURI", "Rule", "RuleId"}
PERSON_CONTAINERS = {"Mailbox", "Contact", "Persona", "Person", "Attendee", "Resolution", "ReceivedBy",
                     "ReceivedRepresenting", "From", "Sender", "Organizer", "Delegate", "DelegateUser", "UserId"}
KEPT_HEADERS = {"content-type", "mime-version", "content-transfer-encoding", "x-ms-has-attach",
                "x-ms-exchange-organization-scl"}
PREFIX = re.compile(r"^((?:(?:RE|FW|FWD|AW|WG|TR|SV|VS)\s*:\s*)*)(.*)$", re.I | re.S)


class Pseudonyms:
    """The same original always gets the same pseudonym, in every run recorded with one key."""

    def __init__(self, directory):
        key_file = Path(directory) / KEY_FILE
        if not key_file.exists():
            descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_hex(32))
            ignore = Path(directory) / ".gitignore"
            if not ignore.exists():
                ignore.write_text(f"{KEY_FILE}\n")
        self.key = bytes.fromhex(key_file.read_text().strip())
        self.seen = {}  # original -> pseudonym, for values found again inside other text

    def _hash(self, kind, value, length=6):
        return hmac.new(self.key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:length]

    def _remember(self, original, pseudonym):
        if original and len(original.strip()) >= 4 and original != pseudonym:
            self.seen[original] = pseudonym
        return pseudonym

    def address(self, value):
        local, _, domain = value.strip().lower().rpartition("@")
        return self._remember(value, f"user-{self._hash('addr', value.strip().lower())}@example.net")

    def person(self, value):
        if not value.strip():
            return value
        return self._remember(value, f"Person {self._hash('person', value.strip())}")

    def subject(self, value):
        prefix, rest = PREFIX.match(value).groups()
        if not rest.strip():
            return value
        pseudonym = f"Subject {self._hash('subject', rest.strip())}"
        self._remember(rest, pseudonym)
        return prefix + pseudonym

    def body(self, value, html=False):
        if not value.strip():
            return value
        text = f"Body text {self._hash('body', value.strip(), 10)}."
        return self._remember(value, f"<html><body><p>{text}</p></body></html>" if html else text)

    def identifier(self, value):
        """An opaque id of the same length and alphabet, the same for the same id."""
        if not value or len(value) < 8:
            return value
        padding = len(value) - len(value.rstrip("="))
        stream, counter = "", 0
        while len(stream) < len(value):
            stream += base64.b64encode(hmac.new(self.key, f"id:{counter}:{value}".encode(), hashlib.sha256).digest()).decode()
            counter += 1
        return stream[:len(value) - padding].replace("=", "A") + "=" * padding

    def host(self, name):
        if not name or name.lower() in PUBLIC_HOSTS or re.fullmatch(r"[\d.]+|\[[0-9a-f:]+\]", name):
            return name
        return f"host-{self._hash('host', name.lower())}.example.net"

    def blob(self, value, label):
        return base64.b64encode(f"{label} {self._hash(label, value, 12)}\r\n".encode()).decode()

    def free_text(self, value):
        """Addresses anywhere, host names in URLs, and every personal value met before."""
        for original in sorted(self.seen, key=len, reverse=True):
            if original in value:
                value = value.replace(original, self.seen[original])
        value = ADDRESS.sub(lambda m: m.group(0) if m.group(0).endswith("@example.net") else self.address(m.group(0)), value)
        return URL.sub(lambda m: m.group(1) + self.host(m.group(2)), value)

    def xml(self, root):
        from lxml import etree
        for node in root.iter():
            if not isinstance(node.tag, str):
                continue
            name = etree.QName(node).localname
            parent = node.getparent()
            parent_name = etree.QName(parent).localname if parent is not None else ""
            if name not in NOT_IDS:
                for attribute in ID_ATTRIBUTES & set(node.attrib):
                    node.set(attribute, self.identifier(node.get(attribute)))
            text = node.text
            if text is None or len(node):
                continue
            if name in ("Name", "DisplayName") and parent_name in PERSON_CONTAINERS:
                node.text = self.person(text)
            elif name == "Name" and parent_name in ("FileAttachment", "ItemAttachment", "ReferenceAttachment"):
                stem, dot, extension = text.rpartition(".")
                node.text = f"file-{self._hash('file', text)}" + (f".{extension}" if dot and len(extension) <= 5 else "")
                self._remember(text, node.text)
            elif name in PERSON_ELEMENTS or (name == "DisplayName" and parent_name in PERSON_CONTAINERS | {"Contact"}):
                node.text = self.person(text)
            elif name in NAME_LIST_ELEMENTS:
                node.text = "; ".join(self.person(part) for part in text.split("; "))
            elif name in SUBJECT_ELEMENTS:
                node.text = self.subject(text)
            elif name in BODY_ELEMENTS:
                node.text = self.body(text, html=(node.get("BodyType") or "").lower() == "html" or "<html" in text[:200].lower())
            elif name == "MimeContent":
                node.text = self.blob(text, "MIME content")
            elif name == "Content" and parent_name in ("FileAttachment", "Attachment"):
                node.text = self.blob(text, "attachment content")
            elif name == "InternetMessageHeader" and (node.get("HeaderName") or "").lower() not in KEPT_HEADERS:
                node.text = f"header-{self._hash('header', text)}"
            elif name in ID_ELEMENTS:
                node.text = self.identifier(text)


# ---- replaying ------------------------------------------------------------------------

REPLAY_URL = "https://ews.replay.invalid/EWS/Exchange.asmx"
_replay_context = None


def _replay(settings, directory):
    """Answer from the recording in `directory`, with the network shut; report what was never asked."""
    import atexit
    bundle = Path(__file__).resolve().parent.parent
    if str(bundle) not in sys.path:
        sys.path.insert(0, str(bundle))
    try:
        from ews_sandbox.replay import block_network, replaying
    except ImportError:
        raise _config_error("EWS_REPLAY needs ews_sandbox/replay.py of the bundle beside scripts/")
    if not (Path(directory) / INDEX).is_file():
        raise _config_error(f"EWS_REPLAY={directory}: no {INDEX} there (record one with EWS_RECORD)")
    if settings.mode == "sandbox":
        os.environ.setdefault("EWS_SANDBOX_URL", REPLAY_URL)  # no sandbox to start: the recording answers
    block_network()
    global _replay_context  # kept for the whole run: a dropped context manager would end the replay
    _replay_context = replaying(directory, everywhere=True)
    player = _replay_context.__enter__()

    def report():
        left = player.unused()
        if left:
            print(f"ews: replay: {len(left)} recorded exchange(s) not asked for: {', '.join(left)}", file=sys.stderr)
        if settings.get("EWS_REPLAY_LOG"):  # for tests: which answers were given, when (back-off waits)
            Path(settings.get("EWS_REPLAY_LOG")).write_text(json.dumps({"timeline": player.timeline, "unused": left}))

    atexit.register(report)
