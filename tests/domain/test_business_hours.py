"""Working hours as typed in the calendar form, and as stored."""

from __future__ import annotations

import pytest

from ticketing.domain.business_hours import HoursError, format_hours, parse_hours
from ticketing.models import BusinessCalendar
from ticketing.services.sla import working_calendar


def test_typed_hours_are_stored_and_shown_again_as_typed() -> None:
    typed = "Mon-Fri 09:00-17:00\nSat 10:00-13:00, 14:00-16:00\nSun 00:00-24:00"
    hours = parse_hours(typed + "\n\n")
    assert hours["0"] == hours["4"] == [["09:00", "17:00"]] and hours["5"] == [["10:00", "13:00"], ["14:00", "16:00"]]
    assert hours["6"] == [["00:00", "24:00"]]
    assert format_hours(hours) == typed
    assert parse_hours("monday-wednesday 8:30-12:00") == {str(d): [["08:30", "12:00"]] for d in range(3)}
    assert format_hours({"0": [["09:00", "17:00"]], "2": [["09:00", "17:00"]]}) == "Mon 09:00-17:00\nWed 09:00-17:00"
    assert parse_hours("") == {} and format_hours({}) == ""


@pytest.mark.parametrize(
    ("typed", "says"),
    [("Mon 9-5", "write hours as 09:00-17:00"), ("Fri-Mon 09:00-10:00", "Monday to Sunday"),
     ("Xyz 09:00-10:00", "start with a day"), ("Mon 10:00-09:00", "not a span within a day"),
     ("Mon 09:00-24:30", "not a span within a day"), ("Mon 09:00-12:00, 11:00-13:00", "overlap"),
     ("Mon 09:00-10:00\nMon-Tue 10:00-11:00", "Line 2: Mon is given twice")],
)  # fmt: skip
def test_wrong_hours_say_which_line_and_why(typed: str, says: str) -> None:
    with pytest.raises(HoursError, match=says):
        parse_hours(typed)


def test_a_calendar_without_working_time_counts_every_hour_instead_of_failing() -> None:
    empty = BusinessCalendar(name="Saved before hours", timezone="Europe/London", hours={}, always_open=False)
    assert working_calendar(empty).always_open
