"""Command-line plumbing the scripts share, none of it configuration: the parser with the
common flags, argument checks that fail with one line (exit 2), output as a table or JSON,
id lists, and bulk calls in chunks with progress and a report of each element.

Nothing here imports exchangelib at import time, so `--help` stays instant.
"""
import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

from ews_config import ADDRESS, ConfigError, classify, exit_for, load_settings, local_zone, retry_budget


class OneLineParser(argparse.ArgumentParser):
    """argparse, with a usage error as one line (exit 2) like every other error of the scripts."""

    def error(self, message):
        print(f"ews: {message}; see --help", file=sys.stderr)
        sys.exit(2)


def run(main):
    """A script's exit code from main(). `script | head`: once the reader has gone, the script
    ends quietly with 1, not with a traceback (output is flushed here, where that is caught)."""
    try:
        code = main()
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's flush at exit: nowhere to fail
        return 1


def parser(description):
    """An ArgumentParser with the options every script has."""
    result = OneLineParser(description=description)
    result.add_argument("--env-file", metavar="PATH", help="settings file to load (default: .env)")
    result.add_argument("--json", action="store_true", help="print the result as JSON")
    result.add_argument("--debug", action="store_true",
                        help="log the EWS traffic (secrets redacted) and show tracebacks")
    return result


def report_sign_in(account, auth, as_json):
    """What every setup script prints: the summary, as text or as one JSON object."""
    summary = connection_summary(account, auth)
    if as_json:
        print_json(summary)
    else:
        print(describe(summary))


def connection_summary(account, auth):
    """What the setup scripts report: who, which server, and the inbox totals."""
    inbox = account.inbox
    return {
        "auth": auth, "acting_as": account.primary_smtp_address, "access_type": account.access_type,
        "endpoint": account.protocol.service_endpoint, "server_version": account.version.build and str(account.version.build),
        "api_version": account.version.api_version,
        "inbox": {"total": inbox.total_count, "unread": inbox.unread_count},
    }


def describe(summary):
    return (f"Signed in ({summary['auth']}) as {summary['acting_as']} ({summary['access_type']})\n"
            f"Server: {summary['endpoint']}, Exchange build {summary['server_version']} ({summary['api_version']})\n"
            f"Inbox: {summary['inbox']['total']} messages, {summary['inbox']['unread']} unread")


def print_json(value):
    print(json.dumps(value, indent=2, default=str))


EWS_ID = re.compile(r"[A-Za-z0-9+/=_-]+")


NAME_MAX = 255  # the longest subject or folder name exchangelib accepts (a CharField)


def parse_args(parser, argv=None, *checks):
    """parse_args, then each check(args) before anything connects: a bad value leaves with one line, exit 2.
    `--order -received` is read as `--order=-received` (argparse would take -received for a flag)."""
    argv, joined = list(sys.argv[1:] if argv is None else argv), []
    while argv:
        value = argv.pop(0)
        joined.append(f"--order={argv.pop(0)}" if value == "--order" and argv and argv[0].startswith("-") else value)
    args = parser.parse_args(joined)
    try:
        load_settings(getattr(args, "env_file", None))  # EWS_TIMEZONE decides what a date without a zone means
        for check in checks:
            check(args)
    except ConfigError as error:
        exit_for(error, args.debug)
    return args


def check_address(value, flag):
    if not ADDRESS.fullmatch(value or ""):
        raise ConfigError(f"{flag} {value!r} is not an email address (expected name@example.com)")
    return value


def check_file(path, flag):
    if not Path(path).is_file():
        raise ConfigError(f"{flag} {path}: no such file")
    return Path(path)


def parse_when(text, flag, end=False):
    """UTC datetime from 2026-03-01, 2026-03-01T09:30[+01:00] (in EWS_TIMEZONE, else the machine's
    zone, when no zone is given) or 12h / 7d / 2w ago. A date alone as an end includes that whole day."""
    from datetime import datetime, timedelta, timezone
    text = text.strip()
    ago = re.fullmatch(r"(\d+)([hdw])", text)
    try:
        if ago:
            unit = {"h": "hours", "d": "days", "w": "weeks"}[ago[2]]
            return datetime.now(timezone.utc) - timedelta(**{unit: int(ago[1])})
        value = datetime.fromisoformat(text)
        if end and len(text) == 10:
            value += timedelta(days=1)
        zone = local_zone()
        value = value if value.tzinfo else value.replace(tzinfo=zone) if zone else value.astimezone()
        value = value.astimezone(timezone.utc)
        value.astimezone()  # exchangelib converts to local time too: year 1 and 9999 may not survive it
        if value.year < 1900:  # no mail is that old, and exchangelib writes such years unpadded ('1-01-02')
            raise OverflowError
        return value
    except OverflowError:  # 9999999d, 9999-12-31 as an end: past what a datetime holds
        raise ConfigError(f"{flag} {text!r} is out of range: give a date between the years 1900 and 9999")
    except ValueError as error:
        if "out of range" in str(error):  # datetime's own words for a year outside 1..9999
            raise ConfigError(f"{flag} {text!r} is out of range: give a date between the years 1900 and 9999")
        raise ConfigError(f"{flag} {text!r} is not a date: use 2026-03-01, 2026-03-01T09:30 or 7d (7 days ago)")


def read_ids(path):
    """The ids in `path`: read_inbox.py --json output (a list of objects with an id), a JSON
    list of ids, or one id a line. An empty list is kept: it means no message, not "use the filters"."""
    if path != "-" and not Path(path).is_file():
        raise ConfigError(f"--ids-from {path}: no such file")
    try:
        text = sys.stdin.read() if path == "-" else read_text(path, "--ids-from")
    except UnicodeDecodeError:
        raise ConfigError("--ids-from -: standard input is not UTF-8 text")
    if not text.lstrip().startswith(("[", "{")):
        return [line.strip() for line in text.splitlines() if line.strip()]
    try:
        entries = json.loads(text)
        if not isinstance(entries, list):
            raise TypeError
        ids = [entry["id"] if isinstance(entry, dict) else entry for entry in entries]
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"--ids-from {path}: expected a JSON list of ids or of objects with an 'id'")
    blank = [n for n, item_id in enumerate(ids, 1) if item_id is None or not str(item_id).strip()]
    if blank:  # exchangelib would abort the whole request on it, and str() would make null the id 'None'
        raise ConfigError(f"--ids-from {path}: entry {blank[0]} has an empty or null id; remove it")
    return [str(item_id) for item_id in ids]


def check_folder_path(path, flag):
    """A folder path must name at least one folder ('/' alone would be the top of the mailbox),
    each name within Exchange's 255 characters."""
    names = [name for name in path.split("/") if name.strip()]
    if not names:
        raise ConfigError(f"{flag} {path!r} names no folder; give a path such as Inbox/Projects")
    check_length(max(names, key=len), f"{flag} folder name", NAME_MAX)
    return names


def check_length(text, flag, limit):
    if len(text) > limit:
        raise ConfigError(f"{flag} is {len(text)} characters long; Exchange allows {limit} at most: shorten it")
    return text


def check_body_and_files(args):
    """--body or --body-file (a .html file implies --html) into args.text; --attach files checked."""
    args.text = args.body or ""
    if args.body_file:
        args.text = read_text(args.body_file, "--body-file")
        args.html = args.html or args.body_file.lower().endswith((".html", ".htm"))
    args.attach = [check_file(path, "--attach") for path in args.attach]


def read_text(path, flag):
    """The text of a UTF-8 file given as `flag`, or one line saying why not."""
    path = check_file(path, flag)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{flag} {path}: not UTF-8 text; save it as UTF-8")
    except OSError as error:
        raise ConfigError(f"{flag} {path}: cannot be read ({error.strerror})")


def print_table(rows, columns):
    """Rows of dicts as columns that fit a terminal: long cells end in an ellipsis, times in EWS_TIMEZONE
    (else the machine's zone)."""
    from datetime import datetime
    zone = local_zone()
    limits = {"subject": 50, "from": 30, "to": 30, "cc": 30, "categories": 24, "name": 40, "path": 70}

    def text(value, column):
        if isinstance(value, bool):
            return "yes" if value else "no"
        if value and column in ("received", "sent"):
            return datetime.fromisoformat(value).astimezone(zone).strftime("%Y-%m-%d %H:%M")
        value = ", ".join(map(str, value)) if isinstance(value, list) else value
        return "" if value is None else " ".join(visible(str(value)).split())  # one line a row, nothing hidden

    cells = [[text(row.get(c), c) for c in columns] for row in rows]
    widths = [min(max([len(c)] + [len(r[i]) for r in cells]), limits.get(c, 200)) for i, c in enumerate(columns)]
    for line in [list(columns)] + cells:
        print("  ".join((v if len(v) <= w else v[:w - 1] + "…").ljust(w) for v, w in zip(line, widths)).rstrip())


def visible(text, replacement=" "):
    """`text` without what a terminal or a file manager would hide or act on: format characters
    (category Cf: the bidi overrides that show invoice\\u202efdp.exe as 'invoiceexe.pdf', zero
    widths) are dropped; control characters and line or paragraph separators become `replacement`."""
    import unicodedata
    return "".join("" if unicodedata.category(c) == "Cf" else replacement
                   if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text)


def outcome_unknown(error):
    """A write whose answer was lost: the connection dropped or the answer timed out (exchangelib
    raises ErrorTimeoutExpired for both). The server may or may not have acted on it."""
    import requests
    from exchangelib.errors import ErrorTimeoutExpired
    return isinstance(error, (ErrorTimeoutExpired, requests.ConnectionError, requests.Timeout)) and \
        not isinstance(error, requests.exceptions.SSLError)


def attempt(call, items, settle=None):
    """call(items) -> one result per item. When its answer is lost and a retry policy is on,
    settle(items) -> the items not done yet (it looks at the mailbox), and call() is sent again for
    those only, while the retry budget lasts: a write is never done twice. Without a retry policy
    (or a settle), the error is raised: the outcome is then unknown."""
    results, pending, wait = {}, list(range(len(items))), 0.5
    while True:
        try:
            for index, result in zip(pending, call([items[i] for i in pending])):
                results[index] = result
            return [results[i] for i in range(len(items))]
        except Exception as error:
            if not (outcome_unknown(error) and settle and retry_budget().take(wait)):
                raise
            time.sleep(wait)
            wait *= 2
            left = settle([items[i] for i in pending])
            done = [i for i in pending if not any(items[i] is item for item in left)]
            results.update((i, True) for i in done)
            pending = [i for i in pending if i not in done]
            if not pending:
                return [results[i] for i in range(len(items))]


class Report:
    """What a bulk run did, chunk by chunk: done, failed (with the error), outcome unknown (the
    request's answer was lost and no retry policy could check it), not attempted."""

    def __init__(self, items, verb):
        self.items, self.verb = items, verb
        self.done, self.failed, self.unknown, self.not_attempted = [], [], [], []
        self.stopped = None  # the one line saying why the run stopped

    def as_json(self):
        return {"matched": len(self.items), "done": len(self.done), "failed": failures_json(self.failed),
                "outcome_unknown": [failure_id(item) for item in self.unknown],
                "not_attempted": [failure_id(item) for item in self.not_attempted]}

    def summary(self):
        parts = [f"{self.verb} {len(self.done)} of {len(self.items)} messages"]
        parts += [f"{len(self.failed)} failed"] * bool(self.failed)
        parts += [f"{len(self.unknown)} outcome unknown (look before retrying them)"] * bool(self.unknown)
        parts += [f"{len(self.not_attempted)} not attempted"] * bool(self.not_attempted)
        return ", ".join(parts)

    def exit_code(self):
        """1 when anything was not done; a run that stopped says why, in one line."""
        if self.stopped:
            print(f"ews: stopped: {self.stopped}; {self.summary()}", file=sys.stderr)
        return 1 if self.failed or self.unknown or self.not_attempted else 0


def run_in_chunks(items, size, call, verb, settle=None, connection=None):
    """call(chunk) -> results, for chunks of `items` (one EWS request each); progress on stderr
    when there is more than one chunk; each chunk through attempt() (see there for `settle`).
    A chunk that fails as a whole stops the run: its items failed (or their outcome is unknown)
    and the rest are not attempted. Returns the Report; failed elements are listed on stderr."""
    report = Report(items, verb)
    for start in range(0, len(items), size):
        chunk = items[start:start + size]
        try:
            results = attempt(call, chunk, settle)
        except Exception as error:
            if outcome_unknown(error):
                report.unknown += chunk
            else:
                report.failed += [(item, error) for item in chunk]
            report.not_attempted = items[start + size:]
            report.stopped = classify(error, connection)[1]
            break
        for item, result in zip(chunk, results):
            report.failed += [(item, result)] if isinstance(result, Exception) else []
            report.done += [] if isinstance(result, Exception) else [item]
        if len(items) > size:
            print(f"ews: {verb} {len(report.done)} of {len(items)}", file=sys.stderr)
    for item, error in report.failed if report.stopped is None else []:
        print(f"ews: failed: {getattr(item, 'subject', None) or '(no subject)'} [{failure_id(item)}]: "
              f"{type(error).__name__}: {error}", file=sys.stderr)
    return report


def failure_id(item):
    return item[0] if isinstance(item, tuple) else getattr(item, "id", None)


def failures_json(failed):
    return [{"id": failure_id(item), "subject": getattr(item, "subject", None), "error": type(error).__name__,
             "message": str(error)} for item, error in failed]
