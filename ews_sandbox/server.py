"""The HTTP face of the sandbox: a WSGI application served by cheroot.

/EWS/Exchange.asmx  EWS SOAP, authenticated as Exchange does it (401 + WWW-Authenticate)
/autodiscover/autodiscover.svc  SOAP Autodiscover (autodiscover.py), authenticated the same way
/_sandbox/...       the admin API (admin.py), loopback only, token in X-Admin-Token
anything else       the OAuth authority (oauth/) when it runs, else 404
"""
import contextlib
import logging
import socket
import time
import traceback

from cheroot import wsgi

from . import admin, autodiscover, request_body, streaming
from .auth import AuthFailed
from .connections import TOO_LARGE_TEXT
from .model import directory
from .ops.context import READ_ONLY_OPERATIONS, Context
from .wire import request_check, soap
from .wire.errors import EWSError, SOAPFault

EWS_PATH = "/EWS/Exchange.asmx"
log = logging.getLogger(__name__)


class _Gateway(wsgi.Gateway_10):
    """Gives the application its connection: NTLM state and dropped connections need it."""

    def get_environ(self):
        environ = super().get_environ()
        environ["ews_sandbox.connection"] = self.req.conn
        environ["ews_sandbox.request"] = self.req  # to close the connection after a refusal
        return environ


class HTTPServer(wsgi.Server):
    # cheroot answers "Connection: close" past 10 idle keep-alive connections, which
    # exchangelib reads as throttling (ErrorServerBusy); IIS keeps far more open.
    keep_alive_conn_limit = 1000
    # How often the accept loop wakes up; stop() waits for it (cheroot's default is 0.5 s,
    # half a second added to every script run on the embedded sandbox).
    expiration_interval = 0.05

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.gateway = _Gateway


class Application:
    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.operations = sandbox.operations

    def __call__(self, environ, start_response):
        try:
            return self._route(environ, start_response)
        except Exception:
            log.error("sandbox failure on %s:\n%s", environ.get("PATH_INFO"), traceback.format_exc())
            return _plain(start_response, "500 Internal Server Error", b"The sandbox failed; see its log.\n")

    def _route(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_sandbox/"):
            return admin.handle(self.sandbox, environ, start_response)
        for prefix, handler in self.sandbox.extra_routes.items():
            if path.startswith(prefix):
                return handler(environ, start_response)
        if path.lower() == EWS_PATH.lower():
            if environ["REQUEST_METHOD"] != "POST":
                return _plain(start_response, "405 Method Not Allowed", b"POST SOAP requests here.\n")
            return self._ews(environ, start_response)
        if path.lower() == autodiscover.AUTODISCOVER_PATH:
            return autodiscover.handle(self.sandbox, environ, start_response, _small_body(environ))
        if self.sandbox.fallback_route is not None:  # the OAuth authority: /{any tenant}/...
            return self.sandbox.fallback_route(environ, start_response)
        return _plain(start_response, "404 Not Found", b"Not found.\n")

    # ---- EWS ----
    def _ews(self, environ, start_response):
        started = time.perf_counter()
        log_entry = {"operation": None, "mailbox": None, "user": None, "mailboxes": [], "request_bytes": 0}

        def finish(status, headers, payload):
            if isinstance(payload, streaming.StreamingAnswer):  # chunked: its length is not known
                for fault in self.sandbox.faults.triggered(log_entry["operation"], ("drop-stream",)):
                    payload.cut_after(fault.ms / 1000, connection)
                self.sandbox.request_log.add(log_entry["operation"], 200, log_entry["request_bytes"], 0, started,
                                             log_entry["mailbox"], log_entry["user"], log_entry["mailboxes"])
                start_response(status, headers)
                return payload
            streamed = payload if isinstance(payload, StreamedAnswer) else None
            checked = streamed.without_deferred() if streamed else payload
            # GetStreamingEvents' error answer names the bad ids as m:SubscriptionId, as exchangelib reads
            # them (FIDELITY.md): like the streamed documents, it is not handed to the schema check
            if self.sandbox.response_hook is not None and checked.startswith(b"<?xml") and \
                    log_entry["operation"] != "GetStreamingEvents":
                self.sandbox.response_hook(checked)
            self.sandbox.request_log.add(log_entry["operation"], int(status.split()[0]), log_entry["request_bytes"],
                                         len(payload), started, log_entry["mailbox"], log_entry["user"],
                                         log_entry["mailboxes"])
            start_response(status, headers + [("Content-Length", str(len(payload)))])
            return streamed.chunks(self.sandbox.database) if streamed else [payload]

        # Who calls comes from the headers alone: a refused caller's body is never read whole.
        connection = environ.get("ews_sandbox.connection")
        try:
            user = self.sandbox.authenticate(environ, connection)
        except AuthFailed as failed:
            small = request_body.leave_unread(environ)
            log_entry["operation"] = soap.operation_name(small) if small else None
            log_entry["request_bytes"] = len(small or b"")
            return finish("401 Unauthorized", self._challenge_headers(environ, failed) +
                          [("Content-Type", "text/plain")], b"401 Unauthorized\n")
        log_entry["user"] = user["email"]
        try:
            body = request_body.read_body(environ)
        except request_body.BodyTooLarge:
            request_body.close_after_answer(environ)
            return finish("404 Not Found", [("Content-Type", "text/plain")], TOO_LARGE_TEXT.encode())
        except request_body.ClientGone:
            return finish("408 Request Timeout", [("Content-Type", "text/plain")], b"Request timed out.\n")
        log_entry["request_bytes"] = len(body)
        try:
            request = soap.parse_request(body)
        except SOAPFault as fault:
            return finish("500 Internal Server Error", _XML, soap.render(soap.fault_envelope(fault)))
        log_entry["operation"] = request.operation
        if self._refuses_passwords(environ, request.operation):
            return finish("401 Unauthorized", self._bearer_only() + [("Content-Type", "text/plain")],
                          b"401 Unauthorized\n")
        early = self._injected_fault(request.operation, connection, start_response, finish)
        if early is not None:
            return early
        status, payload = self._dispatch(request, user, log_entry)
        late = self._injected_fault(request.operation, connection, start_response, finish, phase="after")
        return finish(status, _XML + streaming.affinity_headers(request.operation), payload) if late is None else late

    def _challenge_headers(self, environ, failed):
        if failed.challenge:
            return [("WWW-Authenticate", failed.challenge)] + failed.headers
        if self.sandbox.faults.active("oauth-only") and not _is_bearer(environ):
            return self._bearer_only() + failed.headers
        return [("WWW-Authenticate", challenge) for challenge in self.sandbox.challenges()] + failed.headers

    def _bearer_only(self):
        bearer = [c for c in self.sandbox.challenges() if c.lower().startswith("bearer")] or ["Bearer"]
        return [("WWW-Authenticate", c) for c in bearer]

    def _refuses_passwords(self, environ, operation):
        """The oauth-only fault: answer as Exchange Online does, which takes bearer tokens only."""
        if not self.sandbox.faults.triggered(operation, ("oauth-only",)):
            return False
        return not _is_bearer(environ)

    def _injected_fault(self, operation, connection, start_response, finish, phase="before"):
        faults = self.sandbox.faults.triggered(operation, ("latency", "drop-connection", "http-503", "server-busy",
                                                           "ews-disabled"), phase)
        for fault in faults:
            if fault.kind == "latency":
                time.sleep(fault.ms / 1000)
        for fault in faults:
            if fault.kind == "drop-connection" and connection is not None:
                # Shut the socket down mid-request; cheroot closes it when the write fails.
                connection.socket.shutdown(socket.SHUT_RDWR)
                self.sandbox.request_log.add(operation, 0, 0, 0, time.perf_counter())
                start_response("200 OK", [("Content-Length", "1")])
                return []
            if fault.kind == "http-503":
                return finish("503 Service Unavailable", [("Retry-After", str(fault.retry_after)),
                                                          ("Content-Type", "text/plain")], b"Service Unavailable\n")
            if fault.kind == "ews-disabled":
                return finish("403 Forbidden", [("Content-Type", "text/plain")],
                              b"EWS is disabled for this organization or application.\n")
            if fault.kind == "server-busy":
                busy = SOAPFault("ErrorServerBusy", "The server cannot service this request right now. Try again later.",
                                 fault_code="a:ErrorServerBusy",
                                 message_xml=[("BackOffMilliseconds", str(fault.backoff_ms))])
                return finish("500 Internal Server Error", _XML, soap.render(soap.fault_envelope(busy)))
        return None

    def _dispatch(self, request, user, log_entry):
        handler = self.operations.get(request.operation)
        if handler is None:
            # Not ErrorInvalidRequest: exchangelib reads that as a wrong version and retries them all.
            fault = SOAPFault("ErrorInvalidOperation",
                              f"The EWS sandbox does not implement the operation {request.operation}.",
                              fault_code="a:ErrorInvalidOperation")
            return "500 Internal Server Error", soap.render(soap.fault_envelope(fault))
        try:
            return self._run(handler, request, user, log_entry)
        except SOAPFault as fault:
            return f"{fault.http_status} Error", soap.render(soap.fault_envelope(fault))
        except Exception as e:
            if soap.is_busy(e):  # another process held the write lock past the busy timeout
                return "500 Internal Server Error", soap.render(soap.fault_envelope(SERVER_BUSY))
            log.error("sandbox failure in %s:\n%s", request.operation, traceback.format_exc())
            fault = SOAPFault("ErrorInternalServerError", f"The sandbox failed on {request.operation}; see its log.",
                              fault_code="a:ErrorInternalServerError")
            return "500 Internal Server Error", soap.render(soap.fault_envelope(fault))

    def _run(self, handler, request, user, log_entry):
        """Read-only operations run in a read snapshot, which a streamed answer keeps
        until its last byte (so its Content-Length holds); the others in a write transaction."""
        database = self.sandbox.database
        with contextlib.ExitStack() as scope:
            conn = scope.enter_context(database.reading() if request.operation in READ_ONLY_OPERATIONS
                                       else database.transaction())
            actor, mailbox_id = self.sandbox.acting_as(conn, user, request.impersonate)
            log_entry["mailbox"] = directory.user_by_id(conn, mailbox_id)["email"]
            context = Context(conn, actor, mailbox_id, self.sandbox,
                              reading=request.operation in READ_ONLY_OPERATIONS)
            try:
                request_check.check(request.body)
                response = handler(context, request.body)
            except EWSError as error:  # the request as a whole failed: one error message
                response = soap.response_element(request.operation)
                messages = soap.sub(response, soap.m("ResponseMessages"))
                soap.response_message(messages, request.operation, error)
                context.deferred_content.clear()
            finally:
                log_entry["mailboxes"] = [directory.user_by_id(conn, opened)["email"] for opened in context.opened]
            if context.live_answer is not None:  # sent after this transaction has ended
                return "200 OK", context.live_answer
            rendered = soap.render(soap.envelope(response))
            if not context.deferred_content:
                return "200 OK", rendered
            snapshot = scope.pop_all() if request.operation in READ_ONLY_OPERATIONS else None
        return "200 OK", StreamedAnswer(rendered, context.deferred_content, snapshot)


_XML = [("Content-Type", "text/xml; charset=utf-8")]
SERVER_BUSY = SOAPFault("ErrorServerBusy", "The server cannot service this request right now. Try again later.",
                        fault_code="a:ErrorServerBusy", message_xml=[("BackOffMilliseconds", "1000")])


class StreamedAnswer:
    """A rendered answer in which tokens stand for large base64 values; those are read
    from the database slice by slice while the answer is sent, so that a 50 MB
    attachment never sits in the server's memory (Content-Length is still exact)."""

    def __init__(self, rendered, deferred, snapshot=None):
        self.snapshot = snapshot  # an ExitStack holding the request's read transaction, or None
        self.pieces = []
        rest = rendered
        for part in deferred:
            before, found, rest = rest.partition(part.token.encode())
            self.pieces += [before, part] if found else []
            rest = rest if found else before  # a token a failed element dropped: nothing to stream
        self.pieces.append(rest)

    def __len__(self):
        return sum(len(p) if isinstance(p, bytes) else p.encoded_length for p in self.pieces)

    def without_deferred(self):
        """The answer with empty values in place of the streamed ones (still schema-valid)."""
        return b"".join(p for p in self.pieces if isinstance(p, bytes))

    def chunks(self, database):
        return _Chunks(self, database)


class _Chunks:
    """The iterable cheroot sends: the pieces, read in one snapshot (the request's own,
    when it handed it over) that ends with the last piece or when cheroot closes it."""

    def __init__(self, answer, database):
        self.answer, self.snapshot = answer, answer.snapshot
        if self.snapshot is None:
            self.snapshot = contextlib.ExitStack()
            self.snapshot.enter_context(database.reading())
        self.conn = database.connection()
        self._pieces = self._generate()

    def _generate(self):
        for piece in self.answer.pieces:
            if isinstance(piece, bytes):
                yield piece
            else:
                yield from piece.chunks(self.conn)
        self.close()

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._pieces)

    def close(self):
        if self.snapshot is not None:
            snapshot, self.snapshot = self.snapshot, None
            snapshot.close()


def _small_body(environ, limit=1024 * 1024):
    """A body that is small by nature (Autodiscover): read within `limit`; past it, or when
    the client stalls, empty (the request then fails as malformed) and the connection closed."""
    try:
        return request_body.read_body(environ, limit=limit)
    except (request_body.BodyTooLarge, request_body.ClientGone):
        request_body.close_after_answer(environ)
        return b""


def _is_bearer(environ):
    return (environ.get("HTTP_AUTHORIZATION") or "").lower().startswith("bearer ")


def _plain(start_response, status, payload):
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(payload)))])
    return [payload]
