"""The request and answer every handler of the authority takes and gives."""
import html
import json
from dataclasses import dataclass, field


@dataclass
class Call:
    """One HTTP request to the authority, parsed."""
    environ: dict
    tenant: str | None
    query: dict
    form: dict
    operation: str
    user: str | None = None  # who signed in or asked, for the request log

    @property
    def method(self):
        return self.environ["REQUEST_METHOD"]

    @property
    def base_url(self):
        return f"{self.environ['wsgi.url_scheme']}://{self.environ.get('HTTP_HOST') or self.environ['SERVER_NAME']}"

    def header(self, name):
        return self.environ.get("HTTP_" + name.upper().replace("-", "_"))


@dataclass
class Answer:
    status: str
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: list = field(default_factory=list)


def json_answer(value, status="200 OK"):
    return Answer(status, json.dumps(value).encode())


def html_answer(title, body_html, status="200 OK", headers=()):
    page = (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title></head>"
            f"<body>{body_html}</body></html>")
    return Answer(status, page.encode(), "text/html; charset=utf-8", list(headers))


def redirect(location, headers=()):
    return Answer("302 Found", b"", "text/html; charset=utf-8", [("Location", location), *headers])
