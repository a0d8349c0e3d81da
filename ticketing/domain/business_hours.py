"""Working hours as an admin types them, one line per day or run of days:

    Mon-Fri 09:00-17:00
    Sat 10:00-13:00, 14:00-16:00

and as a business calendar stores them: {"0": [["09:00", "17:00"]], ...} (0 = Monday; "24:00" ends a day)."""

from __future__ import annotations

import re

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_DAYS = {name.lower(): i for i, name in enumerate(DAY_NAMES)}
_LINE = re.compile(r"([A-Za-z]{3})[a-z]*(?:\s*-\s*([A-Za-z]{3})[a-z]*)?\s+(.+)")
_SPAN = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")
EXAMPLE = "Mon-Fri 09:00-17:00"

Hours = dict[str, list[list[str]]]


class HoursError(ValueError):
    pass


def _minutes(hour: str, minute: str) -> int:
    return int(hour) * 60 + int(minute)


def _span(text: str, where: str) -> tuple[int, int]:
    found = _SPAN.fullmatch(text.strip())
    if not found:
        raise HoursError(f"{where}: write hours as 09:00-17:00")
    start, end = _minutes(*found.group(1, 2)), _minutes(*found.group(3, 4))
    if int(found[2]) > 59 or int(found[4]) > 59 or start >= 24 * 60 or end > 24 * 60 or start >= end:
        raise HoursError(f"{where}: {text.strip()} is not a span within a day (the end after the start, 24:00 at most)")
    return start, end


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_hours(text: str) -> Hours:
    """The stored form of typed working hours; HoursError says which line is wrong and how."""
    hours: Hours = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"Line {number}"
        found = _LINE.fullmatch(line.strip())
        if not found or found[1].lower() not in _DAYS or (found[2] and found[2].lower() not in _DAYS):
            raise HoursError(f"{where}: start with a day or days, e.g. {EXAMPLE}")
        first = _DAYS[found[1].lower()]
        last = _DAYS[found[2].lower()] if found[2] else first
        if last < first:
            raise HoursError(f"{where}: days run from Monday to Sunday ({DAY_NAMES[first]}-{DAY_NAMES[last]})")
        spans = sorted(_span(part, where) for part in found[3].split(","))
        if any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:], strict=False)):
            raise HoursError(f"{where}: the spans overlap")
        for day in range(first, last + 1):
            if str(day) in hours:
                raise HoursError(f"{where}: {DAY_NAMES[day]} is given twice")
            hours[str(day)] = [[_clock(start), _clock(end)] for start, end in spans]
    return dict(sorted(hours.items()))


def format_hours(hours: Hours | None) -> str:
    """The typed form of stored hours, runs of days with the same hours on one line."""
    days = sorted((int(day), ", ".join(f"{a}-{b}" for a, b in spans)) for day, spans in (hours or {}).items() if spans)
    runs: list[tuple[int, int, str]] = []  # (first day, last day, hours): consecutive days with the same hours
    for day, text in days:
        if runs and runs[-1][2] == text and runs[-1][1] == day - 1:
            runs[-1] = (runs[-1][0], day, text)
        else:
            runs.append((day, day, text))
    return "\n".join(
        f"{DAY_NAMES[first]}{'' if first == last else '-' + DAY_NAMES[last]} {text}" for first, last, text in runs
    )
