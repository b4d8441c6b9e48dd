"""Tasks through exchangelib: status, percent complete and dates; recurring tasks that,
completed, leave a one-off occurrence and move on to the next one, as the EWS reference
page "UpdateItem operation (task)" describes (a regenerating task counts its interval
from the day it is completed, a non-regenerating one follows its pattern)."""
import datetime
from decimal import Decimal

import pytest
from exchangelib import Task
from exchangelib.fields import MONDAY, THURSDAY
from exchangelib.recurrence import DailyRegeneration, TaskRecurrence, WeeklyPattern, WeeklyRegeneration

from conftest import ALICE


@pytest.fixture
def alice(clean, connect):
    return connect(ALICE)


def utc_today():
    return datetime.datetime.now(datetime.timezone.utc).date()


def all_tasks(account):
    return sorted(account.tasks.all(), key=lambda task: (task.is_recurring, task.due_date or datetime.date.min))


def test_status_percent_and_dates_round_trip(alice):
    task = Task(account=alice, folder=alice.tasks, subject="Write report", status="InProgress",
                percent_complete=Decimal(40), start_date=datetime.date(2026, 3, 2),
                due_date=datetime.date(2026, 3, 6)).save()
    task.refresh()
    assert (task.status, task.percent_complete, task.start_date, task.due_date) == \
        ("InProgress", Decimal(40), datetime.date(2026, 3, 2), datetime.date(2026, 3, 6))
    assert (task.is_complete, task.is_recurring, task.change_count) == (False, False, 1)
    task.complete()
    task.refresh()
    assert (task.status, task.percent_complete, task.is_complete) == ("Completed", Decimal(100), True)
    assert task.complete_date is not None


def test_completing_a_regenerating_task_regenerates_from_today(alice):
    recurrence = TaskRecurrence(pattern=DailyRegeneration(interval=3), start=datetime.date(2026, 1, 5), number=3)
    master = Task(account=alice, folder=alice.tasks, subject="Water the plants", recurrence=recurrence).save()
    master.refresh()
    assert (master.is_recurring, master.due_date) == (True, datetime.date(2026, 1, 5))
    master.status = Task.COMPLETED
    occurrence = master.save()  # UpdateItem answers the id of the one-off it made
    occurrence.refresh()
    assert (occurrence.is_recurring, occurrence.status, occurrence.due_date) == \
        (False, "Completed", datetime.date(2026, 1, 5))
    [done, current] = all_tasks(alice)
    assert done.id == occurrence.id
    assert current.due_date == utc_today() + datetime.timedelta(days=3)
    assert (current.status, current.percent_complete, current.is_complete) == ("NotStarted", Decimal(0), False)
    assert (current.recurrence.boundary.number, current.change_count) == (2, 2)


def test_changing_the_dates_of_a_regenerating_task_makes_no_occurrence(alice):
    recurrence = TaskRecurrence(pattern=WeeklyRegeneration(interval=1), start=datetime.date(2026, 1, 5), number=3)
    master = Task(account=alice, folder=alice.tasks, subject="Backups", recurrence=recurrence).save()
    master.refresh()
    master.due_date = datetime.date(2026, 1, 9)
    assert master.save().id == master.id
    assert alice.tasks.all().count() == 1


def test_a_weekly_task_moves_to_its_next_weekday(alice):
    recurrence = TaskRecurrence(pattern=WeeklyPattern(interval=1, weekdays=[MONDAY, THURSDAY]),
                                start=datetime.date(2026, 3, 1), number=10)  # a Sunday
    master = Task(account=alice, folder=alice.tasks, subject="Standup notes", recurrence=recurrence).save()
    master.refresh()
    assert master.due_date == datetime.date(2026, 3, 2)  # the first Monday
    current = master
    for expected in (datetime.date(2026, 3, 5), datetime.date(2026, 3, 9)):
        current.status = Task.COMPLETED
        current.save()  # the object now names the one-off occurrence
        [current] = [t for t in alice.tasks.all() if t.is_recurring]
        assert current.due_date == expected
    done = [t.due_date for t in alice.tasks.all() if not t.is_recurring]
    assert sorted(done) == [datetime.date(2026, 3, 2), datetime.date(2026, 3, 5)]


def test_moving_a_non_regenerating_task_splits_off_the_occurrence(alice):
    recurrence = TaskRecurrence(pattern=WeeklyPattern(interval=1, weekdays=[MONDAY]),
                                start=datetime.date(2026, 3, 2), number=4)
    master = Task(account=alice, folder=alice.tasks, subject="Weekly review", recurrence=recurrence).save()
    master.refresh()
    master_id = master.id
    master.due_date = datetime.date(2026, 3, 3)
    occurrence = master.save()
    occurrence.refresh()
    assert occurrence.id != master_id and occurrence.is_recurring is False
    [current] = [t for t in alice.tasks.all() if t.is_recurring]
    assert current.id == master_id
    assert (current.due_date, current.recurrence.boundary.number) == (datetime.date(2026, 3, 9), 3)


def test_completing_the_last_occurrence_completes_the_task(alice):
    recurrence = TaskRecurrence(pattern=DailyRegeneration(interval=1), start=datetime.date(2026, 1, 5), number=1)
    master = Task(account=alice, folder=alice.tasks, subject="Once more", recurrence=recurrence).save()
    master.refresh()
    master.status = Task.COMPLETED
    assert master.save().id == master.id
    [task] = alice.tasks.all()
    assert (task.status, task.is_recurring, task.is_complete) == ("Completed", False, True)
