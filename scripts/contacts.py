#!/usr/bin/env python3
"""Personal contacts and the directory: list, search, create, update, export; resolve names; expand lists.

list and search read the Contacts folder (or --folder): FindItem pages, then one GetItem per
100 contacts, since names, companies and the indexed fields (email1-3, phone.LABEL,
address.LABEL.PART, im1-3) are not in FindItem answers. search matches the name, company or
an email address (any case) on the server. create is one CreateItem; update finds the contact
(--id: GetItem; --email: FindItem + GetItem), then one UpdateItem naming only the fields
changed (--set FIELD= with nothing after = deletes the field). export writes CSV (columns
named like --set fields) or vCard 3.0. Personal distribution lists show as kind "list".

resolve looks names up as Outlook's address book does (ResolveNames, one request per name:
exchangelib merges the answers of several names into one list): the directory, your contacts,
or both. expand lists everyone on a list: one ExpandDL per list, since Exchange expands one
level at a time; nested lists are expanded too, each once (a list that contains itself through
another ends there), and each person is listed once. A name that is no address is resolved
first (one ResolveNames), which also finds your personal lists.

Examples:
  contacts.py search smith
  contacts.py create --set name="Ada Lovelace" --set email1=ada@example.org --set phone.MobilePhone=+44123
  contacts.py update --email ada@example.org --set company=Analytical --set address.Home.city=London
  contacts.py resolve smith --scope directory
  contacts.py expand sales@contoso.example --json
  contacts.py export --format vcard --out contacts.vcf

Copy with: ews_config.py, ews_cli.py, ews_folders.py (from scripts/; requirements.txt)
"""
import argparse
import contextlib
import csv
import datetime
import re
import sys
from pathlib import Path

import ews_cli
import ews_config
import ews_folders

# --set FIELD=VALUE: exchangelib's own names for the simple fields, plus short ones
SIMPLE = ["display_name", "given_name", "middle_name", "surname", "nickname", "initials", "generation", "file_as",
          "company_name", "department", "job_title", "office", "manager", "assistant_name", "business_homepage",
          "birthday"]
ALIASES = {"name": "display_name", "company": "company_name"}
SHORT = {"given_name", "middle_name", "surname"}  # Exchange keeps these in 255 characters
PHONE_LABELS = ["AssistantPhone", "BusinessFax", "BusinessPhone", "BusinessPhone2", "Callback", "CarPhone",
                "CompanyMainPhone", "HomeFax", "HomePhone", "HomePhone2", "Isdn", "MobilePhone", "OtherFax",
                "OtherTelephone", "Pager", "PrimaryPhone", "RadioPhone", "Telex", "TtyTddPhone"]
ADDRESS_PARTS = ["street", "city", "state", "country", "zipcode"]
FIELDS = (SIMPLE + [f"email{n}" for n in (1, 2, 3)] + [f"phone.{label}" for label in PHONE_LABELS]
          + [f"address.{label}.{part}" for label in ("Business", "Home", "Other") for part in ADDRESS_PARTS]
          + [f"im{n}" for n in (1, 2, 3)])
INDEXED = {"email": "email_addresses", "phone": "phone_numbers", "address": "physical_addresses", "im": "im_addresses"}
SCOPES = {"directory": "ActiveDirectory", "contacts": "Contacts", "both": "ActiveDirectoryContacts"}
LIST_TYPES = ("PublicDL", "PrivateDL")


def field_name(name):
    """FIELD in canonical form, or one line naming the choices (exit 2)."""
    name = ALIASES.get(name, name)
    if name not in FIELDS:
        raise ews_config.ConfigError(f"--set {name}: not a contact field; choose from name, company, "
                                     f"{', '.join(SIMPLE)}, email1-3, im1-3, phone.LABEL ({', '.join(PHONE_LABELS)}), "
                                     f"address.Business|Home|Other.{'|'.join(ADDRESS_PARTS)}")
    return name


def check_args(args):
    args.names, args.text = args.text, " ".join(args.text)  # resolve takes several names, the others one text
    args.changes = {}
    for pair in args.set:
        name, equals, value = pair.partition("=")
        if not equals:
            raise ews_config.ConfigError(f"--set {pair!r}: write FIELD=VALUE (FIELD= deletes the field)")
        name, value = field_name(name.strip()), value.strip()
        if value and name.startswith("email"):
            ews_cli.check_address(value, f"--set {name}")
        if value and name == "birthday":
            try:
                datetime.date.fromisoformat(value)
            except ValueError:
                raise ews_config.ConfigError(f"--set birthday {value!r} is not a date: use 1815-12-10")
        ews_cli.check_length(value, f"--set {name}", 255 if name in SHORT else 100_000)
        args.changes[name] = value
    if args.action in ("create", "update") and not args.changes:
        raise ews_config.ConfigError(f"{args.action} needs --set FIELD=VALUE")
    if args.action == "create" and not args.changes.get("display_name"):
        raise ews_config.ConfigError("create needs --set name=... (the name Outlook shows)")
    if args.action == "update" and bool(args.id) == bool(args.email):
        raise ews_config.ConfigError("update needs the contact: --id ID or --email ADDRESS")
    if args.email:
        ews_cli.check_address(args.email, "--email")
    if args.action in ("search", "resolve", "expand") and not (args.text or "").strip():
        raise ews_config.ConfigError(f"{args.action} needs a name, e.g. contacts.py {args.action} smith")
    if args.action not in ("search", "resolve", "expand") and args.text:
        raise ews_config.ConfigError(f"{args.action} takes no name ({args.text!r}); see --help")
    if args.out is not None and (Path(args.out).is_dir() or not Path(args.out).parent.is_dir()):
        raise ews_config.ConfigError(f"--out {args.out}: give a file in an existing folder")
    if args.limit is not None and args.limit < 1:
        raise ews_config.ConfigError("--limit must be 1 or more")


def get_value(contact, name):
    """The value of FIELD on an exchangelib Contact (None when unset), as text."""
    if name in SIMPLE:
        value = getattr(contact, name, None)
        return None if value is None else str(value)
    kind, _, rest = name.partition(".") if "." in name else (name[:-1], ".", name[-1])
    entries = getattr(contact, INDEXED[kind], None) or []
    label, _, part = rest.partition(".")
    label = {"email": f"EmailAddress{rest}", "im": f"ImAddress{rest}"}.get(kind, label)
    for entry in entries:
        if entry.label == label:
            return getattr(entry, {"email": "email", "im": "im_address", "phone": "phone_number"}.get(kind, part))
    return None


def apply_changes(contact, changes):
    """Set the changed fields on `contact`; the exchangelib field names to save (indexed fields whole)."""
    from exchangelib import EWSDate
    from exchangelib.indexed_properties import EmailAddress, ImAddress, PhoneNumber, PhysicalAddress
    touched = set()
    for name, value in changes.items():
        if name in SIMPLE:
            value = EWSDate.fromisoformat(value) if value and name == "birthday" else value
            setattr(contact, name, value or None)
            touched.add(name)
            continue
        kind, _, rest = name.partition(".") if "." in name else (name[:-1], ".", name[-1])
        attribute = INDEXED[kind]
        entries = list(getattr(contact, attribute, None) or [])  # one entry changes, the others stay
        label, _, part = rest.partition(".")
        if kind == "address":
            old = next((e for e in entries if e.label == label), None)
            parts = {p: getattr(old, p, None) for p in ADDRESS_PARTS} if old else {}
            parts[part] = value or None
            new = PhysicalAddress(label=label, **parts) if any(parts.values()) else None
        elif kind == "phone":
            new = PhoneNumber(label=label, phone_number=value) if value else None
        elif kind == "email":
            label = f"EmailAddress{rest}"
            new = EmailAddress(label=label, email=value) if value else None
        else:
            label = f"ImAddress{rest}"
            new = ImAddress(label=label, im_address=value) if value else None
        entries = [e for e in entries if e.label != label] + ([new] if new else [])
        setattr(contact, attribute, entries or None)
        touched.add(attribute)
    return sorted(touched)


def row(item, names=None):
    from exchangelib import DistributionList
    result = {"id": item.id, "kind": "list" if isinstance(item, DistributionList) else "contact"}
    if isinstance(item, DistributionList):
        result["display_name"] = item.display_name
        result["members"] = [m.mailbox.email_address or m.mailbox.name for m in item.members or []]
        return result
    result.update((name, value) for name in names or FIELDS if (value := get_value(item, name)) is not None)
    return result


def fetch_fields():
    return sorted({name if name in SIMPLE else INDEXED[re.match(r"[a-z]+", name)[0]] for name in FIELDS})


def contact_query(account, args):
    """The contacts of --folder, with the search when given: one restriction, run on the server."""
    from exchangelib import Q
    folder = ews_folders.folder_by_path(account, args.folder)
    query = folder.all()
    if args.action == "search":
        text = args.text.strip()
        # indexed fields are searched one label at a time: email_addresses__EmailAddress1 and so on
        query = folder.filter(Q(display_name__icontains=text) | Q(company_name__icontains=text) |
                              Q(email_addresses__EmailAddress1__icontains=text) |
                              Q(email_addresses__EmailAddress2__icontains=text) |
                              Q(email_addresses__EmailAddress3__icontains=text))
    return folder, query.order_by("display_name").only("display_name", "members", *fetch_fields())


def find_one(account, args):
    from exchangelib import Q
    folder = ews_folders.folder_by_path(account, args.folder)
    if args.id:
        return folder.get(id=args.id)
    labels = Q(email_addresses__EmailAddress1=args.email) | Q(email_addresses__EmailAddress2=args.email) | \
        Q(email_addresses__EmailAddress3=args.email)  # an indexed field is searched one label at a time
    found = list(folder.filter(labels).only(*fetch_fields())[:2])
    if len(found) != 1:
        raise ews_config.ConfigError(f"--email {args.email}: {len(found) or 'no'} contacts in {args.folder} have that "
                                     "address" + ("; choose with --id (see contacts.py search)" if found else ""))
    return found[0]


def resolve(account, args):
    """One ResolveNames per name: several matches are all returned, none is an error result."""
    from exchangelib.errors import ErrorNameResolutionNoResults
    rows = []
    for name in args.names:
        for found in account.protocol.resolve_names([name], search_scope=SCOPES[args.scope],
                                                    return_full_contact_data=args.full):
            if isinstance(found, ErrorNameResolutionNoResults):
                continue
            mailbox, contact = found if args.full else (found, None)
            entry = {"query": name, "name": mailbox.name, "email": mailbox.email_address, "type": mailbox.mailbox_type}
            if contact is not None:
                entry.update((k, v) for k in ("given_name", "surname", "company_name", "department", "job_title",
                                              "office") if (v := getattr(contact, k, None)))
            rows.append(entry)
    return rows


def expand(account, args):
    """Everyone on the list, nested lists expanded (one ExpandDL each, each list once), each person once."""
    from exchangelib.properties import DLMailbox
    start = args.text.strip()
    if "@" not in start:  # a name: the list it resolves to (a personal list has an item id, no address)
        lists = [m for m in account.protocol.resolve_names([start]) if getattr(m, "mailbox_type", None) in LIST_TYPES]
        if len(lists) != 1:
            raise ews_config.ConfigError(f"{start!r} names {len(lists) or 'no'} distribution lists; give its address")
        start = DLMailbox(email_address=lists[0].email_address, item_id=lists[0].item_id,
                          mailbox_type=lists[0].mailbox_type, name=lists[0].name)
    else:
        start = DLMailbox(email_address=start, mailbox_type="PublicDL")
    key = lambda m: (m.email_address or "").lower() or (m.item_id.id if m.item_id else m.name)  # noqa: E731
    pending, seen, people, expanded = [(start, None)], {key(start)}, {}, []
    while pending:
        dl, via = pending.pop(0)
        expanded.append(dl.email_address or dl.name)
        for member in account.protocol.expand_dl(dl):
            if member.mailbox_type in LIST_TYPES and not args.one_level:
                if key(member) not in seen:  # a list met again (a loop, or two paths to it) is not expanded twice
                    seen.add(key(member))
                    pending.append((DLMailbox(email_address=member.email_address, item_id=member.item_id,
                                              mailbox_type=member.mailbox_type, name=member.name),
                                    member.email_address or member.name))
            elif key(member) not in people:
                people[key(member)] = {"name": member.name, "email": member.email_address,
                                       "type": member.mailbox_type, "via": via or expanded[0]}
    return {"list": expanded[0], "lists_expanded": expanded, "members": list(people.values())}


def vcard(item):
    """One contact as vCard 3.0 (RFC 2426): escaped values, lines folded at 75 characters, CRLF."""
    def esc(value):
        return (value or "").replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"FN:{esc(item.display_name)}",
             f"N:{';'.join(esc(getattr(item, n)) for n in ('surname', 'given_name', 'middle_name'))};;"
             f"{esc(item.generation)}"]
    lines += [f"ORG:{esc(item.company_name)};{esc(item.department)}"] if item.company_name else []
    lines += [f"TITLE:{esc(item.job_title)}"] if item.job_title else []
    lines += [f"EMAIL;TYPE=INTERNET:{esc(e.email)}" for e in sorted(item.email_addresses or [], key=lambda e: e.label)]
    kinds = {"MobilePhone": "CELL", "BusinessPhone": "WORK,VOICE", "HomePhone": "HOME,VOICE", "BusinessFax": "WORK,FAX",
             "HomeFax": "HOME,FAX", "Pager": "PAGER"}
    lines += [f"TEL;TYPE={kinds.get(p.label, 'VOICE')}:{esc(p.phone_number)}" for p in item.phone_numbers or []]
    lines += [f"ADR;TYPE={ {'Business': 'WORK', 'Home': 'HOME'}.get(a.label, 'POSTAL') }:;;{esc(a.street)};"
              f"{esc(a.city)};{esc(a.state)};{esc(a.zipcode)};{esc(a.country)}" for a in item.physical_addresses or []]
    lines += [f"BDAY:{item.birthday.isoformat()}"] if item.birthday else []
    lines += ["END:VCARD"]
    folded = []
    for line in lines:
        while len(line) > 75:
            folded.append(line[:75])
            line = " " + line[75:]
        folded.append(line)
    return "".join(f"{line}\r\n" for line in folded)


def export(people, args):
    """CSV (columns named like --set fields, only those some contact has) or vCard, to --out or stdout."""
    try:
        handle = open(args.out, "w", newline="", encoding="utf-8") if args.out else contextlib.nullcontext(sys.stdout)
    except OSError as error:
        raise ews_config.ConfigError(f"--out {args.out}: cannot write it ({error.strerror})")
    with handle as out:
        if args.format == "vcard":
            out.write("".join(vcard(item) for item in people))
        else:
            rows = [row(item) for item in people]
            writer = csv.DictWriter(out, ["id"] + [name for name in FIELDS if any(name in r for r in rows)],
                                    extrasaction="ignore")  # "kind" is always contact here
            writer.writeheader()
            writer.writerows(rows)
    where = f" to {args.out}" if args.out else ""
    print(f"exported {len(people)} contacts as {args.format}{where}", file=sys.stderr)
    return 0


def main(argv=None):
    parser = ews_cli.parser(__doc__.splitlines()[0])
    parser.formatter_class, parser.epilog = argparse.RawDescriptionHelpFormatter, __doc__.split("\n\n", 2)[2]
    parser.add_argument("action", choices=("list", "search", "create", "update", "resolve", "expand", "export"))
    parser.add_argument("text", nargs="*", help="search, resolve: names (resolve takes several); expand: a list")
    parser.add_argument("--folder", default="Contacts", metavar="PATH", help="contacts folder (default Contacts)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="create, update: a field (repeatable); FIELD= deletes it (update)")
    parser.add_argument("--id", metavar="ID", help="update: the contact's id")
    parser.add_argument("--email", metavar="ADDR", help="update: the contact that has this email address")
    parser.add_argument("--scope", choices=SCOPES, default="both",
                        help="resolve: the directory, your contacts, or both (default, the directory first)")
    parser.add_argument("--full", action="store_true", help="resolve: the directory's details (company, title...)")
    parser.add_argument("--one-level", action="store_true", help="expand: list nested lists, do not expand them")
    parser.add_argument("--format", choices=("csv", "vcard"), default="csv", help="export: CSV or vCard 3.0")
    parser.add_argument("--out", metavar="FILE", help="export: write here (default standard output)")
    parser.add_argument("--limit", type=int, metavar="N", help="list, search, export: at most N contacts")
    parser.add_argument("--dry-run", action="store_true", help="create, update: print the change, save nothing")
    args = ews_cli.parse_args(parser, argv, check_args)

    with ews_config.connect(args) as ews:
        from exchangelib import Contact
        account = ews.account()
        if args.action in ("list", "search", "export"):
            folder, query = contact_query(account, args)
            items = list(query[:args.limit] if args.limit else query)
            if args.action == "export":
                return export([item for item in items if isinstance(item, Contact)], args)
            result = [row(item) for item in items]
        elif args.action in ("resolve", "expand"):
            # resolve_names() reads the server version without guessing it (AttributeError when it is
            # not known yet): asking for it guesses it, one request unless EWS_VERSION is set
            account.protocol.version
            result = resolve(account, args) if args.action == "resolve" else expand(account, args)
        else:
            if args.action == "create":
                contact = Contact(account=account, folder=ews_folders.folder_by_path(account, args.folder))
            else:
                contact = find_one(account, args)
            fields = apply_changes(contact, args.changes)
            if args.dry_run:
                result = {"action": args.action, "dry_run": True, "set": args.changes}
            else:
                contact.save() if args.action == "create" else contact.save(update_fields=fields)
                result = row(contact)

    for name in [n for n in args.names if n not in {e["query"] for e in result}] if args.action == "resolve" else []:
        print(f"ews: no one found for {name!r}", file=sys.stderr)
    if args.json:
        ews_cli.print_json(result)
    elif args.action == "expand":
        ews_cli.print_table(result["members"], ["name", "email", "type", "via"])
        print(f"{len(result['members'])} members of {result['list']} ({len(result['lists_expanded'])} lists expanded, "
              "each once)")
    elif args.action == "resolve":
        ews_cli.print_table(result, ["query", "name", "email", "type"])
    elif args.action in ("create", "update"):
        verb = ("would " + args.action) if args.dry_run else args.action + "d"
        print(f"{verb} {args.changes.get('display_name') or result.get('display_name') or args.email or args.id}"
              + ("" if args.dry_run else f" [{result['id']}]"))
    elif result:
        for entry in result:
            entry["name"], entry["email"] = entry.get("display_name"), entry.get("email1") or ", ".join(
                entry.get("members", []))
            entry["phone"] = next((v for k, v in entry.items() if k.startswith("phone.")), None)
        ews_cli.print_table(result, ["name", "email", "phone", "company_name", "kind"])
    else:
        print("ews: no contact matches", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(ews_cli.run(main))
