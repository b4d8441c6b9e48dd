"""Refusals of the authority, shaped as Microsoft Entra ID sends them: a JSON body with
`error`, an `AADSTS` code and text, trace and correlation ids (msal and oauthlib read
`error`; people read `error_description`)."""
import json
import uuid
from datetime import datetime, timezone


class OAuthError(Exception):
    def __init__(self, error, code, text, status=400):
        super().__init__(f"AADSTS{code}")  # never the text: it may name what the caller sent
        self.error, self.code, self.text, self.status = error, code, text, status

    def body(self, correlation_id=None):
        trace_id, correlation_id = str(uuid.uuid4()), correlation_id or str(uuid.uuid4())
        timestamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
        description = (f"AADSTS{self.code}: {self.text}\r\nTrace ID: {trace_id}\r\n"
                       f"Correlation ID: {correlation_id}\r\nTimestamp: {timestamp}")
        return json.dumps({
            "error": self.error, "error_description": description, "error_codes": [self.code],
            "timestamp": timestamp, "trace_id": trace_id, "correlation_id": correlation_id,
            "error_uri": f"https://login.microsoftonline.com/error?code={self.code}",
        }).encode()


def missing_parameter(name):
    return OAuthError("invalid_request", 900144, f"The request body must contain the following parameter: '{name}'.")


def unknown_tenant(tenant):
    return OAuthError("invalid_request", 90002,
                      f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing "
                      "into the correct cloud. Check with your subscription administrator, this may happen if there "
                      "are no active subscriptions for the tenant.")


def unknown_app(client_id, tenant_id):
    return OAuthError("unauthorized_client", 700016,
                      f"Application with identifier '{client_id}' was not found in the directory '{tenant_id}'. This "
                      "can happen if the application has not been installed by the administrator of the tenant or "
                      "consented to by any user in the tenant. You may have sent your authentication request to the "
                      "wrong tenant.")


def not_consented(app):
    return OAuthError("invalid_grant", 65001,
                      f"The user or administrator has not consented to use the application with ID '{app.client_id}' "
                      f"named '{app.name}'. Send an interactive authorization request for this user and resource.")


def invalid_grant(code, text):
    return OAuthError("invalid_grant", code, text)
