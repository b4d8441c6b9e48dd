"""GetUserAvailability: free/busy of several mailboxes over a window, and suggested
meeting times, computed from their calendars (series expanded) in the requester's zone.

The request gives its zone as a SerializableTimeZone (a bias and the yearly standard and
daylight changes) and its times as wall-clock times of that zone; the answer's times are
the same. Microsoft's pages: "GetUserAvailability operation", "FreeBusyView",
"MergedFreeBusy" (one digit per interval: 0 free, 1 tentative, 2 busy, 3 away, 4 no
data), "SuggestionsViewOptions", "SuggestionQuality", "WorkingHours".
"""
import calendar as month_calendar
from datetime import datetime, timedelta, timezone

from lxml import etree

from ..model import directory, folders
from ..wire.errors import EWSError
from ..wire.ns import m, sub, t
from ..wire.soap import response_element, response_message, schema_fault
from .calendar_view import window_rows

MAX_MAILBOXES = 100  # Exchange's limit per request (exchangelib sends at most this many)
BUSY_DIGITS = {"Free": "0", "Tentative": "1", "Busy": "2", "OOF": "3", "WorkingElsewhere": "0", "NoData": "4"}
BUSY_RANK = {"Free": 0, "WorkingElsewhere": 0, "Tentative": 1, "Busy": 2, "OOF": 3}
DETAILED_VIEWS = ("Detailed", "DetailedMerged")
MERGED_VIEWS = ("FreeBusyMerged", "DetailedMerged", "MergedOnly")
# Working hours of every sandbox mailbox (Exchange's default: Monday to Friday, 8:00 to 17:00)
WORK_DAYS, WORK_START, WORK_END = "Monday Tuesday Wednesday Thursday Friday", 8 * 60, 17 * 60
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def get_user_availability(ctx, body):
    zone = RequestZone(body.find(t("TimeZone")))
    mailboxes = list(body.find(m("MailboxDataArray")) if body.find(m("MailboxDataArray")) is not None else [])
    if not mailboxes:
        raise schema_fault("GetUserAvailabilityRequest needs MailboxData in its MailboxDataArray.")
    if len(mailboxes) > MAX_MAILBOXES:
        raise EWSError("ErrorExceededMaxRecipientLimit", f"At most {MAX_MAILBOXES} mailboxes per GetUserAvailability request.")
    response = response_element("GetUserAvailability")
    options = body.find(t("FreeBusyViewOptions"))
    calendars = [_calendar_of(ctx, data) for data in mailboxes]
    if options is not None:
        answers = sub(response, m("FreeBusyResponseArray"))
        for found in calendars:
            _free_busy(ctx, answers, found, options, zone)
    suggestions = body.find(t("SuggestionsViewOptions"))
    if suggestions is not None:
        _suggestions(ctx, response, [c for c in calendars if not isinstance(c, EWSError)], suggestions, zone)
    return response


def _calendar_of(ctx, data):
    """The calendar folder of one MailboxData entry, or the EWSError that answers it."""
    address = (data.findtext(f"{t('Email')}/{t('Address')}") or "").strip()
    user = directory.user_by_email(ctx.conn, address) if address else None
    if user is None or user["kind"] == "dl":
        return EWSError("ErrorMailRecipientNotFound", f"The mailbox {address!r} was not found.")
    return user, folders.distinguished(ctx.conn, user["id"], "calendar")


def _events(ctx, folder, start, end):
    """(start, end, busy type, row) of the events of a calendar in the UTC window."""
    found = []
    for event_start, event_end, row in window_rows(ctx.conn, folder, start, end):
        item = etree.fromstring(row["xml"])
        busy = item.findtext(t("LegacyFreeBusyStatus")) or "Busy"
        if item.findtext(t("IsCancelled")) == "true":
            continue
        found.append((event_start, event_end, busy, row, item))
    return found


def _can_see_details(ctx, user):
    """Details (subject, location) for the owner and its delegates; others see times only,
    as the calendar's Default permission (FreeBusyTimeOnly) allows."""
    if user["id"] == ctx.actor["id"]:
        return True
    try:
        directory.check_access(ctx.conn, ctx.actor["id"], user["id"])
        return True
    except EWSError:
        return False


def _free_busy(ctx, answers, found, options, zone):
    answer = sub(answers, m("FreeBusyResponse"))
    if isinstance(found, EWSError):
        response_message(answer, "", found)  # operation "": the element is m:ResponseMessage
        return
    response_message(answer, "")
    user, folder = found
    start, end = (zone.to_utc(options.findtext(f"{t('TimeWindow')}/{t(n)}")) for n in ("StartTime", "EndTime"))
    if end <= start:
        raise EWSError("ErrorInvalidTimeInterval")
    interval = int(options.findtext(t("MergedFreeBusyIntervalInMinutes")) or "30")
    view = options.findtext(t("RequestedView")) or "DetailedMerged"
    if view in DETAILED_VIEWS and not _can_see_details(ctx, user):
        view = {"Detailed": "FreeBusy", "DetailedMerged": "FreeBusyMerged"}[view]
    events = _events(ctx, folder, start, end)
    node = sub(answer, m("FreeBusyView"))
    sub(node, t("FreeBusyViewType"), view)
    if view in MERGED_VIEWS:
        sub(node, t("MergedFreeBusy"), merged(events, start, end, interval))
    if view != "MergedOnly":
        array = sub(node, t("CalendarEventArray"))
        for event_start, event_end, busy, row, item in events:
            if busy == "Free":
                continue
            event = sub(array, t("CalendarEvent"))
            sub(event, t("StartTime"), zone.local_text(event_start))
            sub(event, t("EndTime"), zone.local_text(event_end))
            sub(event, t("BusyType"), busy)
            if view in DETAILED_VIEWS:
                _details(event, row, item)
    _working_hours(node, zone)


def merged(events, start, end, interval):
    digits = []
    slot = start
    while slot < end:
        slot_end = slot + timedelta(minutes=interval)
        statuses = [busy for s, e, busy, *_ in events if s < slot_end and e > slot]
        digits.append(BUSY_DIGITS[max(statuses, key=BUSY_RANK.get)] if statuses else "0")
        slot = slot_end
    return "".join(digits)


def _details(event, row, item):
    from ..model import calendar
    details = sub(event, t("CalendarEventDetails"))
    sub(details, t("ID"), _hex_id(row))
    sub(details, t("Subject"), item.findtext(t("Subject")) or "")
    sub(details, t("Location"), item.findtext(t("Location")) or "")
    is_meeting = any(item.find(t(n)) is not None for n in ("RequiredAttendees", "OptionalAttendees", "Resources"))
    kind = row.kind if isinstance(row, calendar.Occurrence) else None
    sub(details, t("IsMeeting"), "true" if is_meeting else "false")
    sub(details, t("IsRecurring"), "true" if kind else "false")
    sub(details, t("IsException"), "true" if kind == "Exception" else "false")
    sub(details, t("IsReminderSet"), "true" if item.findtext(t("ReminderIsSet")) == "true" else "false")
    sub(details, t("IsPrivate"), "true" if item.findtext(t("Sensitivity")) in ("Private", "Confidential") else "false")


def _hex_id(row):
    from ..model import items
    return items.item_id_text(row).encode().hex().upper()


def _working_hours(node, zone):
    hours = sub(node, t("WorkingHours"))
    zone.render(hours)
    periods = sub(hours, t("WorkingPeriodArray"))
    period = sub(periods, t("WorkingPeriod"))
    sub(period, t("DayOfWeek"), WORK_DAYS)
    sub(period, t("StartTimeInMinutes"), str(WORK_START))
    sub(period, t("EndTimeInMinutes"), str(WORK_END))


# ---- suggestions --------------------------------------------------------------------------

QUALITIES = ("Excellent", "Good", "Fair", "Poor")


def _suggestions(ctx, response, calendars, options, zone):
    """Meeting times within working hours, every half hour of each day of the window,
    rated by the share of attendees free: all (Excellent), at most GoodThreshold percent
    busy (Good), at most half (Fair), more (Poor)."""
    window = options.find(t("DetailedSuggestionsWindow"))
    start_local, end_local = (zone.parse_local(window.findtext(t(n))) for n in ("StartTime", "EndTime"))
    length = timedelta(minutes=int(options.findtext(t("MeetingDurationInMinutes")) or "30"))
    good = int(options.findtext(t("GoodThreshold")) or "25")
    per_day = int(options.findtext(t("MaximumResultsByDay")) or "10")
    minimum = options.findtext(t("MinimumSuggestionQuality")) or "Fair"
    busy = [_events(ctx, folder, zone.to_utc_dt(start_local), zone.to_utc_dt(end_local)) for _, folder in calendars]
    answer = sub(response, m("SuggestionsResponse"))
    response_message(answer, "")
    days = sub(answer, m("SuggestionDayResultArray"))
    day = start_local.replace(hour=0, minute=0, second=0)
    while day < end_local:
        found = []
        slot = day + timedelta(minutes=WORK_START)
        while slot + length <= day + timedelta(minutes=WORK_END) and day.strftime("%A") in WORK_DAYS:
            quality = _quality(busy, zone.to_utc_dt(slot), zone.to_utc_dt(slot + length), good)
            if QUALITIES.index(quality) <= QUALITIES.index(minimum):
                found.append((slot, quality))
            slot += timedelta(minutes=30)
        result = sub(days, t("SuggestionDayResult"))
        sub(result, t("Date"), day.strftime("%Y-%m-%dT%H:%M:%S"))
        best = min((QUALITIES.index(q) for _, q in found), default=QUALITIES.index("Poor"))
        sub(result, t("DayQuality"), QUALITIES[best])
        array = sub(result, t("SuggestionArray"))
        for slot, quality in sorted(found, key=lambda f: (QUALITIES.index(f[1]), f[0]))[:per_day]:
            suggestion = sub(array, t("Suggestion"))
            sub(suggestion, t("MeetingTime"), slot.strftime("%Y-%m-%dT%H:%M:%S"))
            sub(suggestion, t("IsWorkTime"), "true")
            sub(suggestion, t("SuggestionQuality"), quality)
        day += timedelta(days=1)


def _quality(busy, start, end, good):
    conflicts = sum(1 for events in busy
                    if any(s < end and e > start and status != "Free" for s, e, status, *_ in events))
    if not busy or conflicts == 0:
        return "Excellent"
    share = 100 * conflicts / len(busy)
    return "Good" if share <= good else "Fair" if share <= 50 else "Poor"


# ---- the request's zone -------------------------------------------------------------------

class RequestZone:
    """A SerializableTimeZone: UTC = local + Bias (+ the period's own bias), daylight time
    between the two yearly changes (DayOrder 5: the last such weekday of the month)."""

    def __init__(self, element):
        self.element = element
        self.bias = int(element.findtext(t("Bias")) or "0") if element is not None else 0
        self.standard = self._change(element.find(t("StandardTime"))) if element is not None else None
        self.daylight = self._change(element.find(t("DaylightTime"))) if element is not None else None

    @staticmethod
    def _change(node):
        if node is None:
            return None
        hours, minutes, *_ = (int(p) for p in (node.findtext(t("Time")) or "00:00:00").split(":"))
        return {"bias": int(node.findtext(t("Bias")) or "0"), "month": int(node.findtext(t("Month")) or "0"),
                "order": int(node.findtext(t("DayOrder")) or "1"),
                "weekday": WEEKDAYS.index(node.findtext(t("DayOfWeek")) or "Sunday"),
                "time": timedelta(hours=hours, minutes=minutes)}

    def _changes_in(self, year):
        return [self._date_of(change, year) for change in (self.daylight, self.standard)]

    @staticmethod
    def _date_of(change, year):
        days = [d for d in range(1, month_calendar.monthrange(year, change["month"])[1] + 1)
                if datetime(year, change["month"], d).weekday() == change["weekday"]]
        day = days[min(change["order"], len(days)) - 1]
        return datetime(year, change["month"], day) + change["time"]

    def _bias_at_local(self, local):
        if not self.daylight or not self.standard or not self.daylight["month"] or not self.standard["month"]:
            return self.bias + (self.standard["bias"] if self.standard else 0)
        to_daylight, to_standard = self._changes_in(local.year)
        in_daylight = (to_daylight <= local < to_standard) if to_daylight < to_standard else \
            not (to_standard <= local < to_daylight)
        return self.bias + (self.daylight if in_daylight else self.standard)["bias"]

    def parse_local(self, text):
        value = datetime.fromisoformat((text or "").strip().replace("Z", "+00:00"))
        if value.tzinfo is not None:  # a time with an offset: taken as that instant
            value = self.local(value)
        return value

    def to_utc_dt(self, local):
        return (local + timedelta(minutes=self._bias_at_local(local))).replace(tzinfo=timezone.utc)

    def to_utc(self, text):
        return self.to_utc_dt(self.parse_local(text))

    def local(self, moment):
        """A UTC instant as wall-clock time: first with the standard bias, then with the
        bias of the period that wall-clock time falls in."""
        naive = moment.astimezone(timezone.utc).replace(tzinfo=None)
        standard = self.bias + (self.standard["bias"] if self.standard else 0)
        return naive - timedelta(minutes=self._bias_at_local(naive - timedelta(minutes=standard)))

    def local_text(self, moment):
        return self.local(moment).strftime("%Y-%m-%dT%H:%M:%S")

    def render(self, parent):
        if self.element is not None:
            copy = etree.fromstring(etree.tostring(self.element))
            copy.tag = t("TimeZone")
            parent.append(copy)
            return
        zone = sub(parent, t("TimeZone"))
        sub(zone, t("Bias"), "0")
        for name in ("StandardTime", "DaylightTime"):
            node = sub(zone, t(name))
            for child_name, value in (("Bias", "0"), ("Time", "00:00:00"), ("DayOrder", "0"), ("Month", "0"),
                                      ("DayOfWeek", "Sunday")):
                sub(node, t(child_name), value)


OPERATIONS = {"GetUserAvailabilityRequest": get_user_availability}
