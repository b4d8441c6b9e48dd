#!/usr/bin/env python3
"""Check a delegated sign-in as one user: msal interactive (browser), msal device code
(no browser on this machine), or the password grant.

msal keeps its token cache in a file of mode 0600 (EWS_TOKEN_CACHE), so later runs
sign in silently and refresh without asking. Prints who it acts as, the server's
version and the inbox totals. With EWS_AUTH unset it runs the flow chosen by --flow
against the local sandbox, which plays the user's part (the browser, or approving the
device code).

Settings (.env): EWS_AUTH=msal-interactive|msal-device-code|oauth-delegated,
EWS_TENANT_ID, EWS_CLIENT_ID, EWS_EMAIL; for the password grant also EWS_USERNAME and
EWS_PASSWORD. The app needs the delegated permission EWS.AccessAsUser.All of
"Office 365 Exchange Online", and http://localhost as a mobile/desktop redirect URI.

Copy with: ews_config.py, ews_cli.py (from scripts/; requirements.txt)
"""
import sys

import ews_cli
import ews_config

FLOWS = {"interactive": "msal-interactive", "device-code": "msal-device-code", "password": "oauth-delegated"}


def main(argv=None):
    parser = ews_cli.parser(__doc__.splitlines()[0])
    parser.add_argument("--flow", choices=sorted(FLOWS), help="sign-in flow to try against the sandbox "
                        "(default: device-code); with EWS_AUTH set, EWS_AUTH decides")
    args = parser.parse_args(argv)
    with ews_config.connect(args) as ews:
        mode = ews.settings.mode
        if mode == "sandbox":
            mode = FLOWS[args.flow or "device-code"]
        elif mode not in FLOWS.values():
            raise ews_config.ConfigError(f"EWS_AUTH={mode} is not a delegated OAuth mode; "
                                         f"run {ews_config.SETUP_SCRIPT.get(mode, 'setup_basic_auth.py')} instead")
        ews_cli.report_sign_in(ews.account(auth_type=mode), mode, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(ews_cli.run(main))
