#!/usr/bin/env python3
"""Check an on-premises sign-in with a username and password (Basic or NTLM).

Connects, then prints who it acts as, the server's version and the inbox totals.
With EWS_AUTH unset it signs in to the local sandbox with the scheme of --auth, so
both paths can be tried offline. Exchange Online refuses passwords: use the OAuth
setup scripts there.

Settings (.env): EWS_AUTH=basic|ntlm, EWS_EMAIL, EWS_USERNAME (DOMAIN\\user or UPN),
EWS_PASSWORD, and EWS_SERVER or EWS_SERVICE_ENDPOINT (autodiscover when neither).

Copy with: ews_config.py, ews_cli.py (from scripts/; requirements.txt)
"""
import sys

import ews_cli
import ews_config

COVERED = ("sandbox", "basic", "ntlm")


def main(argv=None):
    parser = ews_cli.parser(__doc__.splitlines()[0])
    parser.add_argument("--auth", choices=("basic", "ntlm"),
                        help="password scheme to try against the sandbox (default: basic)")
    args = parser.parse_args(argv)
    with ews_config.connect(args) as ews:
        if ews.settings.mode not in COVERED:
            raise ews_config.ConfigError(f"EWS_AUTH={ews.settings.mode} is not a password mode; "
                                         f"run {ews_config.SETUP_SCRIPT[ews.settings.mode]} instead")
        scheme = args.auth if ews.settings.mode == "sandbox" else ews.settings.mode
        ews_cli.report_sign_in(ews.account(auth_type=scheme or "basic"), scheme or "basic", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(ews_cli.run(main))
