"""The tenant's app registrations, kept in the `apps` table, and its tenant id (in `meta`).

An app's permissions are kept per resource, as the portal's "API permissions" page
shows them: application permissions (`roles`, granted by an admin) and delegated ones
(`scopes`, consented for the tenant's users).
"""
import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class App:
    client_id: str
    name: str
    kind: str                      # 'confidential', 'public' or 'graph-only' (a confidential client)
    client_secret: str | None
    permissions: dict = field(default_factory=dict)
    redirect_uris: tuple = ()

    @property
    def is_public(self):
        return self.kind == "public"

    def roles(self, resource):
        return list(self.permissions.get(resource, {}).get("roles", []))

    def scopes(self, resource):
        return list(self.permissions.get(resource, {}).get("scopes", []))

    def ready_line_entry(self, tenant_id):
        return {"tenant_id": tenant_id, "client_id": self.client_id, "client_secret": self.client_secret,
                "kind": self.kind, "name": self.name, "redirect_uris": list(self.redirect_uris)}


def add_app(conn, app):
    conn.execute("INSERT INTO apps(client_id, name, kind, client_secret, permissions, redirect_uris) "
                 "VALUES (?, ?, ?, ?, ?, ?)", (app.client_id, app.name, app.kind, app.client_secret,
                                               json.dumps(app.permissions), json.dumps(list(app.redirect_uris))))


def _from_row(row):
    return App(row["client_id"], row["name"], row["kind"], row["client_secret"], json.loads(row["permissions"]),
               tuple(json.loads(row["redirect_uris"])))


def find_app(conn, client_id):
    row = conn.execute("SELECT * FROM apps WHERE client_id = ? COLLATE NOCASE", ((client_id or "").strip(),)).fetchone()
    return _from_row(row) if row else None


def apps(conn):
    return [_from_row(row) for row in conn.execute("SELECT * FROM apps ORDER BY rowid")]


def set_tenant_id(conn, tenant_id):
    conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('tenant_id', ?)", (tenant_id,))


def tenant_id(conn):
    row = conn.execute("SELECT value FROM meta WHERE key = 'tenant_id'").fetchone()
    return row["value"] if row else None
