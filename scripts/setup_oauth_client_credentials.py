#!/usr/bin/env python3
"""Check an app-only (client credentials) sign-in to Exchange Online.

The app acts on EWS_EMAIL's mailbox by impersonation. Prints who it acts as, the
server's version and the inbox totals. With EWS_AUTH unset it runs the same flow
against the local sandbox's own sign-in authority and demo app.

Settings (.env): EWS_AUTH=oauth-app, EWS_TENANT_ID, EWS_CLIENT_ID, EWS_CLIENT_SECRET,
EWS_EMAIL; EWS_AUTHORITY_HOST for national clouds. The app needs the application
permission full_access_as_app of "Office 365 Exchange Online" with admin consent.

Copy with: ews_config.py, ews_cli.py (from scripts/; requirements.txt)
"""
import sys

import ews_cli
import ews_config

MODE = "oauth-app"


def main(argv=None):
    parser = ews_cli.parser(__doc__.splitlines()[0])
    args = parser.parse_args(argv)
    with ews_config.connect(args) as ews:
        if ews.settings.mode not in ("sandbox", MODE):
            raise ews_config.ConfigError(f"EWS_AUTH={ews.settings.mode} is not app-only; "
                                         f"run {ews_config.SETUP_SCRIPT[ews.settings.mode]} instead")
        ews_cli.report_sign_in(ews.account(auth_type=MODE), MODE, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(ews_cli.run(main))
