"""The sandbox's OAuth authority: the parts of the Microsoft identity platform that msal
and exchangelib use, so that every OAuth mode can be tried offline.

authority.py       the running authority: endpoints, keys, grants, EWS's bearer checks
endpoints.py       the WSGI app and its routes; web.py the request/answer shapes
metadata.py        OpenID configuration, keys (JWKS), instance discovery, user realm
token_endpoint.py  the token endpoint (one handler per grant type) and device codes
signin.py          the sign-in form of the authorization endpoint, the device-code page
grants.py          authorization codes and device codes waiting to be redeemed
tokens.py          what is issued: access, id and refresh tokens, client_info
keys.py            the RS256 signing key, kept beside the database
scopes.py          how scopes name resources and permissions
registry.py        the tenant's app registrations (the `apps` table)
bearer.py          how Exchange Online judges a bearer token
errors.py          refusals shaped as Entra ID's (AADSTS codes)
admin_routes.py    /_sandbox/device-codes: approve or decline a device code
"""
