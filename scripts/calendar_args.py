"""What the calendar scripts read alike from their arguments: a named IANA time zone, and the
dates and times given in it. A zone that does not exist, a date that does not exist
(2026-02-30) and a local time the clocks skip (02:30 on the night summer time starts) are
refused with one line (exit 2) before anything connects.

Nothing here imports exchangelib at import time, so `--help` stays instant.
"""
from datetime import date, datetime, timedelta, timezone

from ews_config import ConfigError, local_zone

TIME_EXAMPLE = "2026-03-24T10:00"


def zone(name, flag="--timezone"):
    """The EWSTimeZone named by `flag`, else EWS_TIMEZONE, else the machine's zone."""
    from exchangelib import EWSTimeZone
    from exchangelib.errors import UnknownTimeZone
    try:
        if name:
            return EWSTimeZone(name.strip())
        configured = local_zone()  # EWS_TIMEZONE, checked by ews_cli.parse_args
        return EWSTimeZone(configured.key) if configured else EWSTimeZone.localzone()
    except (UnknownTimeZone, ValueError, KeyError, OSError):  # also an IANA zone without a Windows name
        raise ConfigError(f"{flag} {name!r} is not an IANA time zone such as Europe/Berlin")


def local_date(text, flag):
    """A date (2026-03-24); one that does not exist is refused."""
    try:
        return in_range(date.fromisoformat(text.strip()), text, flag)
    except ValueError:
        raise ConfigError(f"{flag} {text!r} is not a date that exists: use YYYY-MM-DD, such as 2026-03-24")


def in_range(value, text, flag):
    if not 1900 <= value.year <= 9998:  # past what a calendar needs, and what converting zones survives
        raise ConfigError(f"{flag} {text!r} is out of range: give a date between the years 1900 and 9998")
    return value


def local_time(text, tz, flag):
    """An aware EWSDateTime from a wall-clock time read in `tz` (2026-03-24T10:00; a date alone is
    midnight). Refused: a date that does not exist, an offset of its own, a time the clocks skip."""
    from exchangelib import EWSDateTime
    try:
        naive = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"{flag} {text!r} is not a date and time that exists: use {TIME_EXAMPLE}")
    if naive.tzinfo is not None:
        raise ConfigError(f"{flag} {text!r}: give the wall-clock time without an offset; --timezone names its zone")
    aware = in_range(naive, text, flag).replace(tzinfo=tz)
    if aware.astimezone(timezone.utc).astimezone(tz).replace(tzinfo=None) != naive:
        raise ConfigError(f"{flag} {text!r} does not exist in {tz.key}: the clocks skip that hour "
                          "(daylight saving starts); pick another time")
    return EWSDateTime.from_datetime(aware)


def window(first, last, tz):
    """(start, end) of the whole days `first` to `last` (both included) in `tz`, as aware EWSDateTimes."""
    from exchangelib import EWSDateTime
    if last < first:
        raise ConfigError(f"--to {last} is before --from {first}")
    midnight = lambda day: EWSDateTime.from_datetime(datetime.combine(day, datetime.min.time(), tz))  # noqa: E731
    return midnight(first), midnight(last + timedelta(days=1))
