"""What a client reads before it signs in: the OpenID configuration of a tenant, its
signing keys, msal's instance discovery and user-realm lookups."""
from urllib.parse import unquote, urlparse

from .web import json_answer


def _endpoint_tenant(authority, tenant):
    """Entra ID names a specific tenant by its id in the endpoints, whatever the caller called it."""
    return tenant if tenant in ("common", "organizations") else authority.tenant_id


def openid_configuration(authority, call):
    base, tenant = call.base_url, _endpoint_tenant(authority, call.tenant)
    issuer_tenant = "{tenantid}" if tenant in ("common", "organizations") else authority.tenant_id
    return json_answer({
        "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{base}/{issuer_tenant}/v2.0",
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{base}/{tenant}/oauth2/v2.0/logout",
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
                             "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username",
                             "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    })


def keys(authority, call):
    return json_answer(authority.key.jwks(f"{call.base_url}/{authority.tenant_id}/v2.0"))


def instance_discovery(authority, call):
    """msal asks this before trusting an authority it does not know (unless told not to)."""
    asked = urlparse(call.query.get("authorization_endpoint", ""))
    tenant = (asked.path.strip("/").split("/") or ["common"])[0] or "common"
    host = urlparse(call.base_url).netloc
    return json_answer({
        "tenant_discovery_endpoint": f"{call.base_url}/{tenant}/v2.0/.well-known/openid-configuration",
        "api-version": "1.1",
        "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
    })


def user_realm(authority, call):
    """msal's username/password sign-in asks whether the user's domain is federated: it is not."""
    username = unquote(call.environ["PATH_INFO"].rsplit("/", 1)[-1])
    domain = username.rpartition("@")[2]
    known = domain.casefold() in authority.domains()
    return json_answer({"ver": "1.0", "account_type": "Managed" if known else "Unknown",
                        "domain_name": domain, "cloud_instance_name": "microsoftonline.com",
                        "cloud_audience_urn": "urn:federation:MicrosoftOnline"})
