"""Hostile, malformed and concurrent input (issue 9): each defect a security and
reliability review found, pinned. After every test the server must still answer, and
every folder's counts must equal its items (the autouse check at the end of this file).

Raw sockets for the transport, raw SOAP for what exchangelib would never send,
exchangelib where a real client shows the damage best.
"""
import base64
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import ALICE, BOB, PASSWORD
from ews_sandbox import connections

SOAP_ENVELOPE = """<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
  xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
  xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
<s:Header>{header}<t:RequestServerVersion Version="Exchange2016"/></s:Header>
<s:Body>{body}</s:Body></s:Envelope>"""
GET_INBOX = ('<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>'
             '<m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder>')


def basic(user=ALICE):
    return "Basic " + base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()


def soap(sandbox, body, user=ALICE, header="", timeout=20, **kwargs):
    """POST one SOAP request as `user`; the answer (requests.Response)."""
    data = kwargs.pop("data", None) or SOAP_ENVELOPE.format(header=header, body=body).encode()
    headers = {"Content-Type": "text/xml; charset=utf-8", **kwargs.pop("headers", {})}
    if user:
        headers.setdefault("Authorization", basic(user))
    return requests.post(sandbox.ews_url, data=data, headers=headers, verify=sandbox.ca_bundle, timeout=timeout,
                         **kwargs)


def response_code(answer):
    from lxml import etree
    root = etree.fromstring(answer.content)
    codes = [e.text for e in root.iter() if isinstance(e.tag, str) and etree.QName(e).localname == "ResponseCode"]
    return codes


def tls_socket(sandbox):
    context = ssl.create_default_context(cafile=sandbox.ca_bundle)
    raw = socket.create_connection((sandbox.host, sandbox.port), timeout=20)
    return context.wrap_socket(raw, server_hostname="localhost")


def read_head(sock):
    """The status line and headers of one HTTP answer on a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            break
        data += piece
    head = data.split(b"\r\n\r\n")[0].decode("latin-1")
    status, *lines = head.split("\r\n")
    return status, {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}


def rss_kb(field="VmRSS"):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


# ---- 1: no client can stall the others ----------------------------------------------

def test_an_idle_tcp_client_does_not_stall_other_requests(clean, sandbox):
    """cheroot did the TLS handshake in its accept loop: one silent client froze the server."""
    idle = socket.create_connection((sandbox.host, sandbox.port))
    try:
        time.sleep(0.2)  # the server has accepted it
        started = time.perf_counter()
        answer = soap(sandbox, GET_INBOX, timeout=10)
        elapsed = time.perf_counter() - started
    finally:
        idle.close()
    assert answer.status_code == 200
    print(f"\nGetFolder with an idle TCP client connected: {elapsed * 1000:.0f} ms")
    assert elapsed < 3


def test_clients_stalled_mid_body_leave_workers_for_the_others(clean, sandbox):
    stalled = []
    try:
        for _ in range(12):  # more than the 8 workers the server had
            sock = tls_socket(sandbox)
            sock.sendall(f"POST /EWS/Exchange.asmx HTTP/1.1\r\nHost: x\r\nAuthorization: {basic()}\r\n"
                         "Content-Type: text/xml\r\nContent-Length: 5000\r\n\r\n<s:Envel".encode())
            stalled.append(sock)
        time.sleep(0.3)
        started = time.perf_counter()
        answer = soap(sandbox, GET_INBOX, timeout=10)
        assert answer.status_code == 200 and time.perf_counter() - started < 3
    finally:
        for sock in stalled:
            sock.close()


def test_a_stalled_read_is_dropped_after_the_read_timeout(clean, sandbox, monkeypatch):
    monkeypatch.setattr(connections, "READ_TIMEOUT", 1)
    sock = tls_socket(sandbox)
    try:
        sock.sendall(b"POST /EWS/Exchange.asmx HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        started = time.perf_counter()
        sock.settimeout(10)
        data = sock.recv(65536)
        while data and b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        assert time.perf_counter() - started < 5  # dropped (or answered), not held for the keep-alive time
    finally:
        sock.close()


# ---- 2: authentication before the body; size limits ---------------------------------

def test_an_unauthenticated_request_is_refused_before_its_body_is_read(clean, sandbox):
    sock = tls_socket(sandbox)
    try:
        sock.sendall(b"POST /EWS/Exchange.asmx HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n"
                     b"Content-Length: 41943040\r\n\r\n")  # 40 MB announced, none sent
        sock.settimeout(5)
        status, headers = read_head(sock)
    finally:
        sock.close()
    assert status.split()[1] == "401"
    assert headers.get("connection") == "close"  # the body is not read: the connection goes
    assert headers.get("www-authenticate")


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="peak memory is read from /proc")
def test_a_40_mb_unauthenticated_post_costs_no_memory(clean, sandbox):
    """The sandbox runs in this process: its peak resident memory while a client sends
    40 MB without credentials (the server used to read and parse it all, 1.4 GB)."""
    piece = b"<a>" + b"x" * (1024 * 1024 - 7) + b"</a>"
    before = rss_kb()
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    sock = tls_socket(sandbox)
    try:
        sock.sendall(b"POST /EWS/Exchange.asmx HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n"
                     b"Content-Length: 41943040\r\n\r\n")
        try:
            for _ in range(40):
                sock.sendall(piece)
        except OSError:
            pass  # the server answered and closed: the rest was never wanted
        sock.settimeout(10)
        try:
            status, _ = read_head(sock)
        except OSError:
            status = "closed"
    finally:
        sock.close()
    growth_mb = (rss_kb("VmHWM") - before) / 1024
    print(f"\npeak memory growth for a 40 MB unauthenticated POST: {growth_mb:.1f} MB (answer: {status})")
    assert growth_mb < 15


def test_oversized_headers_and_bodies_are_refused_as_iis_does(clean, sandbox):
    answer = soap(sandbox, GET_INBOX, headers={"X-Padding": "a" * 100_000})
    assert answer.status_code == 400 and "too long" in answer.text
    sock = tls_socket(sandbox)
    try:
        sock.sendall(f"POST /EWS/Exchange.asmx HTTP/1.1\r\nHost: x\r\nAuthorization: {basic()}\r\n"
                     f"Content-Length: {connections.MAX_BODY_BYTES + 1}\r\n\r\n".encode())
        sock.settimeout(5)
        status, headers = read_head(sock)
    finally:
        sock.close()
    # IIS request filtering: 404.13 "Content Length Too Large", before authentication
    assert status.split()[1] == "404" and headers.get("connection") == "close"
    assert soap(sandbox, GET_INBOX).status_code == 200


def test_ntlm_legs_keep_their_connection_when_the_body_comes_along(clean, connect):
    from exchangelib import NTLM
    account = connect(ALICE, auth=NTLM)
    assert account.inbox.total_count == 0  # requests_ntlm resends the body on every leg


# ---- 15: chunked bodies ---------------------------------------------------------------

def test_chunked_request_bodies_are_read(clean, sandbox):
    payload = SOAP_ENVELOPE.format(header="", body=GET_INBOX).encode()
    answer = soap(sandbox, None, data=(payload[i:i + 100] for i in range(0, len(payload), 100)))
    assert answer.request.headers.get("Transfer-Encoding") == "chunked"
    assert answer.status_code == 200 and response_code(answer) == ["NoError"]


def test_a_chunked_token_request_is_read(clean, sandbox):
    daemon = next(app for app in sandbox.apps if app["kind"] == "confidential")
    form = (f"grant_type=client_credentials&client_id={daemon['client_id']}&client_secret={daemon['client_secret']}"
            "&scope=https%3A%2F%2Foutlook.office365.com%2F.default").encode()
    answer = requests.post(f"{sandbox.authority_url}/{daemon['tenant_id']}/oauth2/v2.0/token",
                           data=iter([form[:40], form[40:]]), verify=sandbox.ca_bundle, timeout=20,
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.request.headers.get("Transfer-Encoding") == "chunked"
    assert answer.status_code == 200 and answer.json()["token_type"] == "Bearer"
