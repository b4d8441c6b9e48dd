"""Replaying recorded EWS exchanges to exchangelib, offline.

A recording is a folder written by scripts/ews_record.py (EWS_RECORD=DIR): recording.json
lists the exchanges in order, each request and answer in a file of its own. A request is
answered by the first exchange not yet used whose request matches it: same method, same
URL path, same operation, and the same elements once the volatile ones are set aside (the
SOAP header but for ExchangeImpersonation, change keys, date-times, GUIDs, credentials).
Host names are ignored, so a recording made against one server replays for any endpoint.

    from ews_sandbox.replay import replaying
    with replaying("tests/recordings/read_inbox-unread") as player:
        ...  # code that builds an exchangelib Account and uses it
    assert player.unused() == []

`replaying(dir)` sets `BaseProtocol.HTTP_ADAPTER_CLS` (what exchangelib sends through);
`replaying(dir, everywhere=True)` answers for every `requests` session of the process (token
endpoints, msal, the scripts' own adapters). A request the recording does not hold raises
ReplayMismatch, whose message shows the request asked and a diff against the closest one
recorded. `block_network()` makes every internet socket connection fail; `recording(dir)`
records the exchanges of a block of code (scripts/ews_record.py's recorder).

What replay cannot do: an NTLM handshake (the recorded challenge is redacted: record NTLM
to inspect it, replay with Basic), msal's interactive sign-in (no browser offline), a
dropped connection (only answers are recorded).
"""
import contextlib
import difflib
import io
import json
import re
import socket
import threading
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import requests.adapters
from urllib3 import HTTPResponse

INDEX = "recording.json"
SOAP_OPERATION = re.compile(r"<(?:[\w-]+:)?Body(?:\s[^>]*)?>\s*<(?:[\w-]+:)?(\w+)")
DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d)?")
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|\b[0-9a-f]{32}\b")
VOLATILE_ATTRIBUTES = {"ChangeKey", "RootItemChangeKey"}
# Form fields and query parameters that carry credentials or change on every sign-in.
VOLATILE_FIELDS = {"password", "passwd", "client_secret", "client_assertion", "assertion", "refresh_token",
                   "access_token", "id_token", "code", "device_code", "code_verifier", "session_state", "token",
                   "client_info", "state", "nonce", "code_challenge", "client-request-id", "x-client-ver",
                   "x-client-os", "x-client-sku", "x-client-cpu", "x-client-current-telemetry",
                   "x-client-last-telemetry", "claims"}
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
PREFIXES = {"http://schemas.microsoft.com/exchange/services/2006/messages": "m",
            "http://schemas.microsoft.com/exchange/services/2006/types": "t", SOAP_ENV: "s",
            "http://schemas.microsoft.com/exchange/2010/Autodiscover": "a"}


class ReplayMismatch(AssertionError):
    """exchangelib asked for something the recording does not hold."""


# ---- what a request means -----------------------------------------------------------------

def operation_of(body, url=""):
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


def canonical(method, url, body):
    """The request as matching sees it: one line per element, volatile values replaced."""
    if isinstance(body, str):
        body = body.encode()
    body = body or b""
    parts = urlsplit(url)
    query = sorted((k, "*" if k.lower() in VOLATILE_FIELDS else v)
                   for k, v in parse_qsl(parts.query, keep_blank_values=True))
    lines = [f"{method} {parts.path.lower()}" + (f"?{'&'.join(f'{k}={v}' for k, v in query)}" if query else "")]
    stripped = body.strip()
    if not stripped:
        return "\n".join(lines)
    if stripped.startswith(b"<"):
        lines += _xml_lines(stripped)
    elif stripped.startswith((b"{", b"[")):
        try:
            lines += json.dumps(json.loads(stripped), indent=1, sort_keys=True).splitlines()
        except ValueError:
            lines += stripped.decode("utf-8", "replace").splitlines()
    else:
        pairs = parse_qsl(stripped.decode("utf-8", "replace"), keep_blank_values=True)
        lines += sorted(f"{k}={'*' if k.lower() in VOLATILE_FIELDS else _volatile(v)}" for k, v in pairs)
    return "\n".join(lines)


def _volatile(text):
    return GUID.sub("{guid}", DATETIME.sub("{datetime}", text))


def _xml_lines(body):
    from lxml import etree
    try:
        root = etree.fromstring(body, etree.XMLParser(remove_blank_text=True, resolve_entities=False, huge_tree=True))
    except etree.XMLSyntaxError:
        return body.decode("utf-8", "replace").splitlines()
    header = root.find(f"{{{SOAP_ENV}}}Header")
    if header is not None:
        for child in list(header):
            if etree.QName(child).localname != "ExchangeImpersonation":
                header.remove(child)
    lines = []

    def walk(node, depth):
        if not isinstance(node.tag, str):
            return
        qname = etree.QName(node)
        name = f"{PREFIXES.get(qname.namespace, qname.namespace or '')}:{qname.localname}".lstrip(":")
        attributes = " ".join(f'{etree.QName(k).localname}="{_volatile(v)}"' for k, v in sorted(node.attrib.items())
                              if etree.QName(k).localname not in VOLATILE_ATTRIBUTES)
        text = (node.text or "").strip()
        lines.append("  " * depth + name + (f" {attributes}" if attributes else "") + (f": {_volatile(text)}" if text else ""))
        for child in node:
            walk(child, depth + 1)

    walk(root, 0)
    return lines


# ---- a recording ---------------------------------------------------------------------------

class Exchange:
    def __init__(self, directory, number, entry):
        self.directory, self.number, self.entry = directory, number, entry
        self.name = entry.get("request") or entry.get("response") or f"{number:04d}-{entry['operation']}"
        self.name = self.name.split(".")[0]
        self.operation = entry["operation"]
        self.request_body = self._read(entry.get("request"))
        self.canonical = canonical(entry["method"], entry["url"], self.request_body)
        self.used = False

    def _read(self, name):
        return (self.directory / name).read_bytes() if name else b""

    def response(self):
        return self._read(self.entry.get("response"))


class Player:
    """Answers requests from a recording, each recorded exchange once, in order among equals."""

    def __init__(self, directory):
        self.directory = Path(directory)
        index_file = self.directory / INDEX
        if not index_file.is_file():
            raise FileNotFoundError(f"{index_file}: no recording there (record one with EWS_RECORD=DIR)")
        self.index = json.loads(index_file.read_text(encoding="utf-8"))
        self.exchanges = [Exchange(self.directory, n, entry) for n, entry in enumerate(self.index["exchanges"], 1)]
        self.served = []
        self.timeline = []  # (exchange, seconds since the replay began) for each answer given
        self._started = time.monotonic()
        self._lock = threading.Lock()

    def unused(self):
        return [exchange.name for exchange in self.exchanges if not exchange.used]

    def answer(self, method, url, body):
        asked = canonical(method, url, body)
        with self._lock:
            for exchange in self.exchanges:
                if not exchange.used and exchange.canonical == asked:
                    exchange.used = True
                    self.served.append(exchange.name)
                    self.timeline.append((exchange.name, round(time.monotonic() - self._started, 3)))
                    return exchange
        raise ReplayMismatch(self.explain(asked, operation_of(body, url)))

    def explain(self, asked, operation):
        same = [e for e in self.exchanges if e.operation == operation] or self.exchanges
        lines = [f"replay: the recording in {self.directory} holds no answer to this {operation} request",
                 "asked:", *("  " + line for line in asked.splitlines())]
        if not same:
            return "\n".join(lines + ["(the recording is empty)"])
        closest = max(same, key=lambda e: (difflib.SequenceMatcher(None, e.canonical, asked).ratio(), not e.used))
        if closest.canonical == asked:
            times = sum(e.canonical == asked for e in self.exchanges)
            lines.append(f"closest recording: {closest.name}, the same request, recorded {times} time(s) "
                         "and already answered as often: the code asked once more than when it was recorded")
        else:
            lines.append(f"closest recording: {closest.name}{' (already used)' if closest.used else ''}; "
                         "diff recorded -> asked:")
            lines += [line.rstrip("\n") for line in difflib.unified_diff(
                closest.canonical.splitlines(), asked.splitlines(), f"recorded {closest.name}", "asked", n=2,
                lineterm="")]
        return "\n".join(lines)

    def build(self, adapter, request):
        exchange = self.answer(request.method, request.url, request.body)
        content = exchange.response()
        headers = dict(exchange.entry.get("response_headers") or {})
        headers["Content-Length"] = str(len(content))
        raw = HTTPResponse(body=io.BytesIO(content), headers=headers, status=exchange.entry["status"],
                           reason=exchange.entry.get("reason"), preload_content=False, decode_content=False,
                           request_method=request.method)
        return requests.adapters.HTTPAdapter.build_response(adapter, request, raw)


class ReplayAdapter(requests.adapters.HTTPAdapter):
    """A requests adapter that answers from `player` (set by replaying()) and never connects."""

    player = None

    def send(self, request, **kwargs):
        if self.player is None:
            raise ReplayMismatch("ReplayAdapter has no recording: use it through replaying(directory)")
        return self.player.build(self, request)


@contextlib.contextmanager
def replaying(directory, everywhere=False):
    """exchangelib (and with `everywhere`, every requests session) answered from the recording in
    `directory`. Yields the Player: .served lists the exchanges used, .unused() those never asked."""
    from exchangelib.protocol import BaseProtocol, close_connections
    player = Player(directory)
    adapter = type("ReplayAdapter", (ReplayAdapter,), {"player": player})
    saved_adapter, saved_send = BaseProtocol.HTTP_ADAPTER_CLS, requests.adapters.HTTPAdapter.send
    close_connections()  # cached protocols keep sessions made with the adapter of their time
    BaseProtocol.HTTP_ADAPTER_CLS = adapter
    if everywhere:
        requests.adapters.HTTPAdapter.send = lambda self, request, **kwargs: player.build(self, request)
    try:
        yield player
    finally:
        BaseProtocol.HTTP_ADAPTER_CLS = saved_adapter
        requests.adapters.HTTPAdapter.send = saved_send
        close_connections()


class NetworkBlocked(OSError):
    pass


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _refuse(sock, address, *rest):
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        raise NetworkBlocked(f"network access blocked during replay (asked for {address!r})")
    return _real_connect(sock, address)


def _refuse_ex(sock, address):
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        raise NetworkBlocked(f"network access blocked during replay (asked for {address!r})")
    return _real_connect_ex(sock, address)


def block_network():
    """Every connection over IPv4 or IPv6 fails from now on in this process (Unix sockets still work)."""
    socket.socket.connect = _refuse
    socket.socket.connect_ex = _refuse_ex


def allow_network():
    socket.socket.connect = _real_connect
    socket.socket.connect_ex = _real_connect_ex


def load_index(directory):
    return json.loads((Path(directory) / INDEX).read_text(encoding="utf-8"))


def recording(directory, pseudonyms=False, secrets=()):
    """The recorder of scripts/ews_record.py as a context manager, for code that is not a script:
    `with recording(dir, pseudonyms=True): ...` records every exchange of the block."""
    import importlib.util
    path = Path(__file__).resolve().parent.parent / "scripts" / "ews_record.py"
    spec = importlib.util.spec_from_file_location("ews_record", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.recording(directory, pseudonyms=pseudonyms, secrets=secrets)
