"""GetServerTimeZones: the Windows time zones the server knows, with their rules.

Exchange answers from the Windows registry: every zone has an Id ("W. Europe Standard
Time"), a display Name, and with ReturnFullTimeZoneData its periods (a bias each),
groups of yearly transitions (RecurringDayTransition: month, weekday, occurrence, -1
for the last, and the wall-clock time before the change) and the years from which each
group applies. The sandbox derives the same shape from the tz database (zoneinfo) for
the Windows zones exchangelib maps (exchangelib/winzone.py), one group per run of years
with the same rule. Microsoft's pages: "GetServerTimeZones operation", "TimeZoneDefinition".
"""
import calendar
import functools
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from ..wire.errors import EWSError
from ..wire.ns import m, sub, t
from ..wire.soap import respond_each

FIRST_YEAR, LAST_YEAR = 2006, 2037  # Windows' dynamic rules start in 2006; 2037 ends the tz data's table
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_STEP = timedelta(days=7)


@functools.lru_cache(maxsize=None)
def windows_zones():
    """Windows zone id -> IANA zone, as exchangelib maps them (imported on first use: the
    package costs a noticeable part of a second, which a sandbox start should not pay)."""
    from exchangelib.winzone import MS_TIMEZONE_TO_IANA_MAP
    return dict(MS_TIMEZONE_TO_IANA_MAP)


def get_server_time_zones(ctx, body):
    full = (body.get("ReturnFullTimeZoneData") or "false").strip().lower() in ("true", "1")
    requested = [(node.text or "").strip() for node in body.iterfind(f"{m('Ids')}/{t('Id')}")]

    def handle(_, message):
        ids = requested or sorted(windows_zones(), key=_sort_key)
        unknown = [zone_id for zone_id in ids if zone_id not in windows_zones()]
        if unknown:
            raise EWSError("ErrorTimeZone", f"The time zone {unknown[0]!r} is not known to the server.")
        definitions = message.find(m("TimeZoneDefinitions"))
        for zone_id in ids:
            render_definition(definitions, zone_id, full)

    return respond_each("GetServerTimeZones", [None], handle, container="TimeZoneDefinitions")


def render_definition(parent, zone_id, full):
    node = sub(parent, t("TimeZoneDefinition"), Id=zone_id, Name=display_name(zone_id))
    if not full:
        return node
    groups = yearly_rule_groups(zone_id)
    periods, transition_groups, transitions = (sub(node, t("Periods")), sub(node, t("TransitionsGroups")),
                                               sub(node, t("Transitions")))
    for index, (first_year, rule) in enumerate(groups):
        standard_id = _period_id(zone_id, first_year, "Standard")
        sub(periods, t("Period"), Bias=_duration(-rule.standard), Name="Standard", Id=standard_id)
        group = sub(transition_groups, t("TransitionsGroup"), Id=str(index))
        if rule.daylight is None:
            sub(sub(group, t("Transition")), t("To"), standard_id, Kind="Period")
        else:
            daylight_id = _period_id(zone_id, first_year, "Daylight")
            sub(periods, t("Period"), Bias=_duration(-rule.daylight), Name="Daylight", Id=daylight_id)
            _recurring(group, standard_id, rule.to_standard)
            _recurring(group, daylight_id, rule.to_daylight)
        if index == 0:
            sub(sub(transitions, t("Transition")), t("To"), "0", Kind="Group")
        else:
            change = sub(transitions, t("AbsoluteDateTransition"))
            sub(change, t("To"), str(index), Kind="Group")
            sub(change, t("DateTime"), f"{first_year}-01-01T00:00:00")
    return node


class Rule(tuple):
    """(standard offset, daylight offset or None, (to daylight), (to standard)); offsets in
    minutes east of UTC, each change as (minutes after local midnight, month, weekday, occurrence)."""
    standard = property(lambda self: self[0])
    daylight = property(lambda self: self[1])
    to_daylight = property(lambda self: self[2])
    to_standard = property(lambda self: self[3])


@functools.lru_cache(maxsize=None)
def yearly_rule_groups(zone_id):
    """[(first year, Rule)], one entry per run of years that share a rule."""
    zone = ZoneInfo(windows_zones()[zone_id])
    groups = []
    for year in range(FIRST_YEAR, LAST_YEAR + 1):
        rule = _rule_of_year(zone, year)
        if not groups or groups[-1][1] != rule:
            groups.append((year, rule))
    return groups


def _rule_of_year(zone, year):
    changes = list(_changes(zone, year))
    if len(changes) != 2:  # no daylight saving time this year (or an irregular one): its year-end offset
        return Rule((_offset(zone, datetime(year + 1, 1, 1, tzinfo=timezone.utc) - timedelta(seconds=1)),
                     None, None, None))
    (first_at, before, after), (second_at, _, _) = changes
    if after > before:  # northern hemisphere: into daylight time first
        return Rule((before, after, _wall_clock(first_at, before), _wall_clock(second_at, after)))
    return Rule((after, before, _wall_clock(second_at, after), _wall_clock(first_at, before)))


def _changes(zone, year):
    """(UTC instant, offset before, offset after) of each change of offset in the year."""
    moment, end = datetime(year, 1, 1, tzinfo=timezone.utc), datetime(year + 1, 1, 1, tzinfo=timezone.utc)
    offset = _offset(zone, moment)
    while moment < end:
        following = min(moment + _STEP, end)
        if _offset(zone, following) != offset:
            low, high = moment, following  # the change lies in (low, high]: narrow it to the minute
            while high - low > timedelta(minutes=1):
                middle = low + (high - low) / 2
                low, high = (middle, high) if _offset(zone, middle) == offset else (low, middle)
            new_offset = _offset(zone, high)
            if high < end:
                yield high, offset, new_offset
            offset, moment = new_offset, high
            continue
        moment = following


def _offset(zone, moment):
    return int(moment.astimezone(zone).utcoffset().total_seconds() // 60)


def _wall_clock(instant, offset_before):
    """The change as Windows writes it: the local time, still on the old clock."""
    local = (instant + timedelta(minutes=offset_before)).replace(tzinfo=None)
    last_day = calendar.monthrange(local.year, local.month)[1]
    occurrence = -1 if local.day + 7 > last_day else (local.day - 1) // 7 + 1
    return local.hour * 60 + local.minute, local.month, WEEKDAYS[local.weekday()], occurrence


def _recurring(group, period_id, change):
    minutes, month, weekday, occurrence = change
    node = sub(group, t("RecurringDayTransition"))
    sub(node, t("To"), period_id, Kind="Period")
    sub(node, t("TimeOffset"), f"PT{minutes}M")
    sub(node, t("Month"), str(month))
    sub(node, t("DayOfWeek"), weekday)
    sub(node, t("Occurrence"), str(occurrence))


@functools.lru_cache(maxsize=None)
def standard_offset(zone_id):
    """Today's standard offset, in minutes east of UTC: the smaller one of January and July."""
    zone, year = ZoneInfo(windows_zones()[zone_id]), datetime.now(timezone.utc).year
    return min(_offset(zone, datetime(year, month, 1, tzinfo=timezone.utc)) for month in (1, 7))


def display_name(zone_id):
    """Windows' form "(UTC+01:00) ..."; the registry's city lists are not in the tz
    database, so the IANA zone stands in for them."""
    standard = standard_offset(zone_id)
    sign = "+" if standard >= 0 else "-"
    hours, minutes = divmod(abs(standard), 60)
    offset = "(UTC)" if standard == 0 else f"(UTC{sign}{hours:02d}:{minutes:02d})"
    return f"{offset} {windows_zones()[zone_id].replace('_', ' ')}"


def _sort_key(zone_id):
    """Windows lists zones west to east, then by name."""
    return standard_offset(zone_id), zone_id


def _period_id(zone_id, year, name):
    return f"trule:Microsoft/Registry/{zone_id}/{year}-{name}"


def _duration(minutes):
    return f"-PT{-minutes}M" if minutes < 0 else f"PT{minutes}M"


OPERATIONS = {"GetServerTimeZones": get_server_time_zones}
