"""How the sandbox's HTTP server takes connections, so that no client can stall the others.

cheroot does the TLS handshake in its one accept loop, under the server's timeout: a
client that connects and sends nothing froze every other client for that long. Here
the handshake waits until the client sends its first bytes and then runs in a worker
thread, under a short deadline; a stalled read (headers, body) ends after READ_TIMEOUT;
and there are enough workers that a few slow clients leave the rest served.
Idle keep-alive connections cost no worker and are closed after KEEP_ALIVE seconds,
as IIS does (its connectionTimeout).
"""
import errno
import socket
import ssl

from cheroot import errors, server
from cheroot.ssl.builtin import BuiltinSSLAdapter

WORKERS = 32
KEEP_ALIVE = 120        # seconds an idle keep-alive connection is kept
READ_TIMEOUT = 10       # seconds one read (the handshake, a header line, a body piece) may stall
MAX_HEADER_BYTES = 64 * 1024  # request line and headers; http.sys refuses larger ones with a 400
LINGER_SECONDS, LINGER_BYTES = 0.5, 1024 * 1024  # what a refused client may still send before the close
# A request body past this is refused before anything else, as IIS's request filtering
# refuses a body over maxAllowedContentLength (404.13). 150 MB: Exchange Online's largest message.
MAX_BODY_BYTES = 150 * 1024 * 1024
TOO_LARGE_TEXT = ("HTTP Error 404.13 - Not Found: the request filtering module is configured to deny a request "
                  "that exceeds the request content length.")

_PLAIN_HTTP_ANSWER = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                      b"Content-Length: 58\r\n\r\nThe client sent plain HTTP; this port only speaks HTTPS.\r\n")


class _HandshakeOnFirstRead(ssl.SSLSocket):
    """A server-side TLS socket that finishes its handshake when the worker first reads."""

    _handshaken = False

    def recv_into(self, buffer, nbytes=0, flags=0):
        if not self._handshaken:
            self._handshake()
        return super().recv_into(buffer, nbytes, flags)

    def send(self, data, flags=0):
        try:
            return super().send(data, flags)
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError) as e:  # the client left: cheroot ignores EPIPE quietly
            raise BrokenPipeError(errno.EPIPE, "the client closed the connection") from e

    def _handshake(self):
        try:
            self.do_handshake()
        except ssl.SSLError as e:
            if "http request" in str(e).lower():  # plain HTTP on the TLS port: say so, as cheroot did
                try:
                    socket.socket.sendall(self, _PLAIN_HTTP_ANSWER)
                except OSError:
                    pass
            raise errors.FatalSSLAlert(*e.args) from e
        except OSError as e:  # a timeout or a reset mid-handshake: drop the connection quietly
            raise errors.FatalSSLAlert(*e.args) from e
        self._handshaken = True


class DeferredHandshakeAdapter(BuiltinSSLAdapter):
    """cheroot's builtin TLS adapter, with the handshake moved out of the accept loop."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.context.sslsocket_class = _HandshakeOnFirstRead

    def wrap(self, sock):
        wrapped = self.context.wrap_socket(sock, do_handshake_on_connect=False, server_side=True)
        return wrapped, {"wsgi.url_scheme": "https", "HTTPS": "on"}


class _Request(server.HTTPRequest):
    def simple_response(self, status, msg=""):
        # cheroot answers 413 for both limits; http.sys and IIS answer as below, and close.
        if not str(status).startswith("413"):
            return super().simple_response(status, msg)
        self.close_connection = True
        if "headers" in msg:
            status, msg = "400 Bad Request", "HTTP Error 400. The size of the request headers is too long."
        else:
            status, msg = "404 Not Found", TOO_LARGE_TEXT
        head = (f"{self.server.protocol} {status}\r\nContent-Type: text/plain\r\nContent-Length: {len(msg)}\r\n"
                "Connection: close\r\n\r\n")
        try:
            self.conn.wfile.write((head + msg).encode("latin-1"))
            self._drain()
        except OSError:
            pass

    def _drain(self):
        """A lingering close: read (and drop) what the client is still sending, briefly, so
        that closing does not reset the connection before it has read the answer."""
        self.conn.socket.settimeout(LINGER_SECONDS)
        left = LINGER_BYTES
        while left > 0 and self.conn.rfile.read1(min(left, 65536)):
            left -= 65536


class Connection(server.HTTPConnection):
    """A client connection whose reads time out after READ_TIMEOUT, not KEEP_ALIVE."""

    RequestHandlerClass = _Request

    def __init__(self, http_server, sock, makefile=None):
        super().__init__(http_server, sock, *([makefile] if makefile else []))
        sock.settimeout(READ_TIMEOUT)


def configure(http_server, certificates=None):
    """Apply these limits to a cheroot server (before prepare())."""
    http_server.ConnectionClass = Connection
    http_server.max_request_header_size = MAX_HEADER_BYTES
    http_server.max_request_body_size = MAX_BODY_BYTES  # also bounds each chunk of a chunked body
    if certificates is not None:
        http_server.ssl_adapter = DeferredHandshakeAdapter(str(certificates.cert_file), str(certificates.key_file))
