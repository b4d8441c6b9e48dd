#!/usr/bin/env python3
"""Add a contact to the Contacts folder. Eval solution until scripts/contacts.py exists."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import ews_cli  # noqa: E402
import ews_config  # noqa: E402


def main(argv=None):
    parser = ews_cli.parser(__doc__.splitlines()[0])
    for flag in ("--given-name", "--surname", "--email", "--phone", "--company"):
        parser.add_argument(flag)
    args = ews_cli.parse_args(parser, argv)
    with ews_config.connect(args) as ews:
        from exchangelib import Contact
        from exchangelib.indexed_properties import EmailAddress, PhoneNumber
        account = ews.account()
        contact = Contact(account=account, folder=account.contacts, given_name=args.given_name, surname=args.surname,
                          display_name=f"{args.given_name} {args.surname}", company_name=args.company,
                          # indexed fields: each entry needs its label (EmailAddress1, BusinessPhone...)
                          email_addresses=[EmailAddress(label="EmailAddress1", email=args.email)] if args.email else None,
                          phone_numbers=[PhoneNumber(label="BusinessPhone", phone_number=args.phone)] if args.phone else None)
        contact.save()
    print(f"added {contact.display_name} <{args.email}>")
    return 0


if __name__ == "__main__":
    sys.exit(main())
