#!/usr/bin/env python3
"""Server-side inbox rules: list, create, update, enable, disable, delete.

Rules run on the server as each message is delivered, in priority order (1 first), until
one that says --stop. A rule applies when all its conditions hold and none of its
exceptions; with no condition it applies to every message. list is one GetInboxRules.
Each change is one UpdateInboxRules after a GetInboxRules (to find the rule by --name, and
for create to pick the next priority and refuse a name in use: exchangelib finds a new
rule's id by its name); create then reads the rules once more for the new rule's id. The
table names the folders rules file into (one GetFolder for all); --json gives their ids.
Folder paths (--move-to, --copy-to) are looked up first (GetFolder, FindFolder): a missing
folder stops the script before anything changes. update replaces only the parts given.

WARNING: exchangelib sends every change with RemoveOutlookRuleBlob=true, so Exchange drops
the Outlook rule blob: rules that exist only in Outlook (client-side rules, such as ones
that play a sound or act on sent mail) can be lost. The script says so on each change.

Examples:
  inbox_rules.py create --name Digests --subject-contains digest --move-to Inbox/Newsletters --create-folder --mark-read
  inbox_rules.py create --name "From the boss" --from boss@example.com --set-importance high --stop
  inbox_rules.py update --name Digests --category News
  inbox_rules.py disable --name Digests
  inbox_rules.py list --json

Copy with: ews_config.py, ews_cli.py, ews_folders.py (from scripts/; requirements.txt)
"""
import argparse
import sys

import ews_cli
import ews_config
import ews_folders

WARNING = ("ews: warning: exchangelib sends RemoveOutlookRuleBlob=true: Exchange drops the Outlook rule blob, so "
           "rules that exist only in Outlook (client-side rules) can be lost; check them in Outlook")
# flag dest: (exchangelib Conditions/Exceptions/Actions field, kind); lists are repeatable flags
CONDITIONS = {"sender": ("from_addresses", "addresses"), "sent_to": ("sent_to_addresses", "addresses"),
              "subject_contains": ("contains_subject_strings", "texts"),
              "body_contains": ("contains_body_strings", "texts"),
              "subject_or_body_contains": ("contains_subject_or_body_strings", "texts"),
              "has_attachments": ("has_attachments", "flag"), "importance": ("importance", "choice"),
              "sensitivity": ("sensitivity", "choice"), "sent_only_to_me": ("sent_only_to_me", "flag"),
              "sent_cc_me": ("sent_cc_me", "flag")}
EXCEPTIONS = {"except_from": ("from_addresses", "addresses"),
              "except_subject_contains": ("contains_subject_strings", "texts"),
              "except_body_contains": ("contains_body_strings", "texts")}
ACTIONS = {"move_to": ("move_to_folder", "folder"), "copy_to": ("copy_to_folder", "folder"),
           "delete": ("delete", "flag"),
           "mark_read": ("mark_as_read", "flag"), "category": ("assign_categories", "texts"),
           "set_importance": ("mark_importance", "choice"), "forward_to": ("forward_to_recipients", "addresses"),
           "redirect_to": ("redirect_to_recipients", "addresses"), "stop": ("stop_processing_rules", "flag")}
PARTS = {"conditions": CONDITIONS, "exceptions": EXCEPTIONS, "actions": ACTIONS}


def add_rule_arguments(parser):
    when = parser.add_argument_group("conditions (all must hold; repeat a flag for any of several values)")
    when.add_argument("--from", dest="sender", action="append", metavar="ADDR", help="sent by ADDR")
    when.add_argument("--sent-to", action="append", metavar="ADDR", help="addressed to ADDR (a person or a list)")
    for name in ("subject", "body", "subject-or-body"):
        when.add_argument(f"--{name}-contains", action="append", metavar="TEXT",
                          help=f"{name} contains TEXT (any case)")
    when.add_argument("--has-attachments", action="store_true", default=None)
    when.add_argument("--importance", choices=("low", "normal", "high"))
    when.add_argument("--sensitivity", choices=("normal", "personal", "private", "confidential"))
    when.add_argument("--sent-only-to-me", action="store_true", default=None, help="you are the only recipient")
    when.add_argument("--sent-cc-me", action="store_true", default=None, help="you are on Cc")
    unless = parser.add_argument_group("exceptions (any one keeps the rule off)")
    unless.add_argument("--except-from", action="append", metavar="ADDR")
    unless.add_argument("--except-subject-contains", action="append", metavar="TEXT")
    unless.add_argument("--except-body-contains", action="append", metavar="TEXT")
    do = parser.add_argument_group("actions")
    do.add_argument("--move-to", metavar="PATH", help="move to this folder, e.g. Inbox/Newsletters")
    do.add_argument("--copy-to", metavar="PATH", help="copy to this folder")
    do.add_argument("--delete", action="store_true", default=None, help="move to Deleted Items")
    do.add_argument("--mark-read", action="store_true", default=None)
    do.add_argument("--category", action="append", metavar="NAME", help="assign category NAME (repeatable)")
    do.add_argument("--set-importance", choices=("low", "normal", "high"))
    do.add_argument("--forward-to", action="append", metavar="ADDR", help="forward to ADDR (as FW:)")
    do.add_argument("--redirect-to", action="append", metavar="ADDR", help="redirect to ADDR (the sender is kept)")
    do.add_argument("--stop", action="store_true", default=None, help="stop processing more rules")


def check_args(args):
    for table in PARTS.values():
        for dest, (_, kind) in table.items():
            for value in getattr(args, dest) or [] if kind == "addresses" else []:
                ews_cli.check_address(value, "--" + dest.replace("sender", "from").replace("_", "-"))
            for value in getattr(args, dest) or [] if kind == "texts" else []:
                if not value.strip():
                    raise ews_config.ConfigError(f"--{dest.replace('_', '-')}: give a non-empty text")
            if kind == "folder" and getattr(args, dest) is not None:
                ews_cli.check_folder_path(getattr(args, dest), f"--{dest.replace('_', '-')}")
    given = {part: [d for d in table if getattr(args, d) is not None] for part, table in PARTS.items()}
    if args.action in ("create", "update") or any(given.values()) or args.rename or args.priority is not None:
        if args.action not in ("create", "update"):
            raise ews_config.ConfigError(f"{args.action} takes only --name or --id; change a rule with update")
    if args.action == "create" and not given["actions"]:
        raise ews_config.ConfigError("create needs at least one action (--move-to, --mark-read, --category, ...)")
    if args.action == "update" and not (any(given.values()) or args.rename or args.priority is not None):
        raise ews_config.ConfigError("update needs something to change (a condition, an action, --rename, --priority)")
    if args.action != "list" and not (args.name or args.id):
        raise ews_config.ConfigError(f"{args.action} needs the rule's --name" + (" or --id" if args.action != "create"
                                                                                  else ""))
    if args.priority is not None and args.priority < 1:
        raise ews_config.ConfigError("--priority must be 1 or more (1 runs first)")
    if args.name is not None:
        ews_cli.check_length(args.name, "--name", ews_cli.NAME_MAX)
    if args.create_folder and not {"move_to", "copy_to"} & set(given["actions"]):
        raise ews_config.ConfigError("--create-folder goes with --move-to or --copy-to")
    args.given, args.would_create = given, []


def build_parts(account, args, rule):
    """Set the parts given on the command line on `rule` (exchangelib Rule); folders looked up first."""
    from exchangelib.properties import Actions, Address, Conditions, CopyToFolder, Exceptions, MoveToFolder
    classes = {"conditions": Conditions, "exceptions": Exceptions, "actions": Actions}
    for part, dests in args.given.items():
        if not dests:
            continue
        element = getattr(rule, part) or classes[part]()
        for dest in dests:
            field, kind = PARTS[part][dest]
            value = getattr(args, dest)
            if kind == "addresses":
                value = [Address(email_address=address) for address in value]
            elif kind == "choice":
                value = value.capitalize()  # Exchange's enumerations: High, Confidential
            elif kind == "folder":
                flag = f"--{dest.replace('_', '-')}"
                if args.create_folder and args.dry_run and not folder_exists(account, value, flag):
                    args.would_create.append(value)  # the real run makes it; a dry run changes nothing
                    continue
                folder = ews_folders.folder_by_path(account, value, flag, create=args.create_folder)
                value = (MoveToFolder if field == "move_to_folder" else CopyToFolder)(folder_id=folder.to_id())
            setattr(element, field, value)
        setattr(rule, part, element)


def folder_exists(account, path, flag):
    try:
        return ews_folders.folder_by_path(account, path, flag) is not None
    except ews_config.ConfigError:
        return False


def describe(rule):
    """A rule as JSON-ready data: name, priority, enabled, and the parts that are set."""
    result = {"id": rule.id, "name": rule.display_name, "priority": rule.priority, "enabled": bool(rule.is_enabled)}
    for part in PARTS:
        element, shown = getattr(rule, part), {}
        for field in element.FIELDS if element is not None else []:
            value = getattr(element, field.name)
            if value is None or (isinstance(value, (list, bool)) and not value):  # EWSElement == needs care
                continue
            if field.name in ("move_to_folder", "copy_to_folder"):
                value = value.folder_id.id if value.folder_id else value.distinguished_folder_id.id
            elif isinstance(value, list):
                value = [getattr(v, "email_address", v) for v in value]
            shown[field.name] = value
        result[part] = shown
    return result


def folder_names(account, described):
    """{folder id: name} of the folders the rules move or copy to: one GetFolder for all of them."""
    from exchangelib.folders import Folder, FolderCollection
    wanted = {r["actions"][k] for r in described for k in ("move_to_folder", "copy_to_folder") if k in r["actions"]}
    if not wanted:
        return {}
    found = FolderCollection(account=account, folders=[Folder(root=account.root, id=i) for i in wanted]).resolve()
    return {folder.id: folder.name for folder in found if not isinstance(folder, Exception)}


def summary(parts, names):
    return "; ".join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else names.get(v, v)}"
                     for k, v in parts.items())


def main(argv=None):
    parser = ews_cli.parser(__doc__.splitlines()[0])
    parser.formatter_class, parser.epilog = argparse.RawDescriptionHelpFormatter, __doc__.split("\n\n", 2)[2]
    parser.add_argument("action", choices=("list", "create", "update", "enable", "disable", "delete"))
    parser.add_argument("--name", metavar="NAME", help="the rule's name (create: the new rule's)")
    parser.add_argument("--id", metavar="ID", help="the rule's id (from list --json) instead of --name")
    parser.add_argument("--rename", metavar="NAME", help="update: a new name")
    parser.add_argument("--priority", type=int, metavar="N",
                        help="create, update: 1 runs first (create: after the last)")
    parser.add_argument("--disabled", action="store_true", help="create: save the rule switched off")
    add_rule_arguments(parser)
    parser.add_argument("--create-folder", action="store_true",
                        help="create, update: make a missing --move-to or --copy-to folder (and its parents)")
    parser.add_argument("--dry-run", action="store_true", help="print what would change; change nothing")
    args = ews_cli.parse_args(parser, argv, check_args)

    with ews_config.connect(args) as ews:
        from exchangelib.properties import Rule
        account = ews.account()
        rules = account.rules  # GetInboxRules, in priority order
        if args.action == "list":
            result = [describe(rule) for rule in rules]
        else:
            named = [r for r in rules if (r.id == args.id if args.id else r.display_name.lower() == args.name.lower())]
            if args.action == "create":
                if named:  # exchangelib would take the older rule's id for the new one
                    raise ews_config.ConfigError(f"--name {args.name!r}: a rule of that name exists; use update")
                rule = Rule(account=account, display_name=args.name, is_enabled=not args.disabled,
                            priority=args.priority or max([r.priority for r in rules], default=0) + 1)
            elif not named:
                raise ews_config.ConfigError(f"no rule {args.id or args.name!r}; see inbox_rules.py list")
            else:
                rule = named[0]
            if args.action in ("create", "update"):
                build_parts(account, args, rule)
                rule.display_name = args.rename or rule.display_name
                rule.priority = args.priority or rule.priority
            elif args.action in ("enable", "disable"):
                rule.is_enabled = args.action == "enable"
            print(WARNING, file=sys.stderr)
            result = {"action": args.action, "dry_run": args.dry_run, "rule": describe(rule)}
            if args.would_create:
                result["folders_to_create"] = args.would_create
            if args.dry_run:
                pass
            elif args.action == "delete":  # a disabled rule is first saved enabled (exchangelib: two requests)
                rule.delete()
            else:
                rule.save()  # UpdateInboxRules; a new rule's id is then read back by its name (GetInboxRules)
                result["rule"] = describe(rule)

        names = {} if args.json else folder_names(account, result if args.action == "list" else [result["rule"]])

    if args.json:
        ews_cli.print_json(result)
    elif args.action == "list":
        rows = [{**r, "when": summary(r["conditions"], names) or "every message",
                 "unless": summary(r["exceptions"], names), "do": summary(r["actions"], names)} for r in result]
        ews_cli.print_table(rows, ["priority", "name", "enabled", "when", "unless", "do"]) if rows else \
            print("no inbox rules")
    else:
        verb = {"create": "created", "update": "updated", "enable": "enabled", "disable": "disabled",
                "delete": "deleted"}[args.action]
        rule = result["rule"]
        when = summary(rule["conditions"], names) or "every message"
        print(f"{'would have ' + verb if args.dry_run else verb} rule {rule['name']!r} (priority {rule['priority']}, "
              f"{'enabled' if rule['enabled'] else 'disabled'}): when {when} -> {summary(rule['actions'], names)}"
              + (" (dry run, nothing changed)" if args.dry_run else ""))
        for path in result.get("folders_to_create", []):
            print(f"would create the folder {path} and file into it")
    return 0


if __name__ == "__main__":
    sys.exit(ews_cli.run(main))
