"""Request bodies as the WSGI handlers read them: with a Content-Length or chunked, within
the server's limit, and never read whole for a request that is refused before its body."""
from cheroot import errors

from .connections import MAX_BODY_BYTES

_PIECE = 64 * 1024
# A refused request's body is read and dropped up to this much, so that its connection
# stays usable (NTLM's next leg comes on it); past it the connection is closed instead.
DRAIN_BYTES = 1024 * 1024


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    """The client stopped sending (READ_TIMEOUT) or dropped the connection mid-body."""


def is_chunked(environ):
    return "chunked" in (environ.get("HTTP_TRANSFER_ENCODING") or "").lower()


def declared_length(environ):
    try:
        return max(int(environ.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


def read_body(environ, limit=MAX_BODY_BYTES):
    """The whole body (bytes); raises BodyTooLarge past `limit`, ClientGone when the
    client stalls or leaves (the connection is then closed after the answer)."""
    try:
        return _read(environ, limit)
    except (OSError, ValueError) as e:  # ValueError: cheroot's bad chunked framing
        close_after_answer(environ)
        raise ClientGone() from e


def _read(environ, limit):
    stream = environ["wsgi.input"]
    if not is_chunked(environ):
        length = declared_length(environ)
        if length > limit:
            raise BodyTooLarge()
        return stream.read(length) if length else b""
    pieces, size = [], 0
    try:
        while piece := stream.read(_PIECE):
            size += len(piece)
            if size > limit:
                raise BodyTooLarge()
            pieces.append(piece)
    except errors.MaxSizeExceeded:
        raise BodyTooLarge()
    return b"".join(pieces)


def leave_unread(environ):
    """Before answering without using the body: read a small one (returned, for the
    request log), else close the connection after the answer (cheroot would otherwise
    read the rest into memory) and return None."""
    if is_chunked(environ) or declared_length(environ) > DRAIN_BYTES:
        close_after_answer(environ)
        return None
    try:
        return read_body(environ)
    except ClientGone:
        return None


def close_after_answer(environ):
    request = environ.get("ews_sandbox.request")
    if request is not None:
        request.close_connection = True
