"""Time-aware filtering for the retrieval adapter: time expressions of a question -> a date range.

LongMemEval's time-aware query expansion asks an LLM to turn the question's time reference into a
date range and keeps only sessions in it. This is a deterministic stand-in (no LLM call, same result
every run) that reads the common English forms, relative to the question date:

    yesterday, today                         that day
    N days|weeks|months|years ago            that day, +-1 day | +-3 days | +-15 days | +-2 months
    a couple of / a few / several X ago      2 X ago | 2-5 X ago | 2-7 X ago (same slack)
    (in) the past|last N days|weeks|months   the N units up to the question date (N may be omitted: 1)
    last week                                the 14 days before (both readings: calendar week, past 7 days)
    last month, last year                    the previous calendar month (+-3 days) / year
    this week|month|year                     from its start to the question date
    last Saturday (any weekday)              the most recent such day before the question date
    in|during|last May [2023]                that month (the latest one not after the question date)
    on May 5[th], 5th of May [2023]          that day +-1

Month names must be capitalised ("may" is a verb). Several expressions give the span from the earliest to the latest day they name. Anything
vaguer ("recently", "How many days ago ...") gives no range: the caller then does not filter.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

MONTHS = {name: i for i, name in enumerate(calendar.month_name) if name}
MONTHS.update({name: i for i, name in enumerate(calendar.month_abbr) if name and name != "May"})
WEEKDAYS = {name.lower(): i for i, name in enumerate(calendar.day_name)}
_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
            "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}
_VAGUE = {"a couple of": (2, 2), "couple of": (2, 2), "a few": (2, 5), "few": (2, 5), "several": (2, 7)}
_UNIT_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}
_SLACK_DAYS = {"day": 1, "week": 3, "month": 15, "year": 61}

_COUNT = r"(\d{1,3}|" + "|".join(sorted(_NUMBERS, key=len, reverse=True)) + ")"
_VAGUE_RE = "|".join(sorted(_VAGUE, key=len, reverse=True))
_MONTH_RE = "(" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_I = re.IGNORECASE
_AGO = re.compile(rf"\b(?:{_COUNT}|({_VAGUE_RE}))\s+(day|week|month|year)s?\s+ago\b", _I)
_PAST_N = re.compile(rf"\b(?:the\s+)?(?:past|last|previous)\s+(?:{_COUNT}\s+)?(day|week|month|year)s?\b", _I)
_DAY_WORD = re.compile(r"\b(yesterday|today|tonight|this morning)\b", _I)
_THIS = re.compile(r"\bthis\s+(week|month|year)\b", _I)
_LAST_WEEKDAY = re.compile(r"\b(?:last|this past|past)\s+(" + "|".join(WEEKDAYS) + r")\b", _I)
_ON_DAY = re.compile(rf"\b{_MONTH_RE}\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{4}}))?")
_DAY_OF = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+of\s+{_MONTH_RE}(?:,?\s+(\d{{4}}))?")
_IN_MONTH = re.compile(rf"\b(?:[Ii]n|[Dd]uring|[Ll]ast|[Ss]ince)\s+(?:early\s+|mid-?\s*|late\s+)?{_MONTH_RE}(?:\s+(\d{{4}}))?\b")
_QUESTION_DATE = re.compile(r"current\s+date\s*:\s*(\d{4})[/-](\d{1,2})[/-](\d{1,2})", _I)


@dataclass(frozen=True)
class DateRange:
    start: date
    end: date
    phrases: tuple[str, ...]  # the expressions that made it (for logs and tests)

    def __contains__(self, day: date) -> bool:
        return self.start <= day <= self.end


def question_date(question: str) -> date | None:
    """The question date a rendered LongMemEval question carries ("Current date: 2023/05/20 (Sat) 02:21")."""
    return _ymd(_QUESTION_DATE.search(question))


def parse_range(question: str, today: date) -> DateRange | None:
    """The span of the date ranges the question's time expressions name (earliest start to latest end),
    or None when it names none."""
    text = _QUESTION_DATE.sub(" ", question)  # the question date itself is not a constraint
    found: list[tuple[date, date, str]] = []
    spans: list[tuple[int, int]] = []  # a phrase inside an earlier, longer match counts once

    def add(m: re.Match, start: date, end: date) -> None:
        if any(a <= m.start() < b for a, b in spans):
            return
        spans.append(m.span())
        found.append((min(start, end), max(start, end), m[0]))

    for m in _AGO.finditer(text):
        unit = m[3].lower()
        lo, hi = _VAGUE[m[2].lower()] if m[2] else (_count(m[1]),) * 2
        add(m, _back(today, hi, unit) - timedelta(days=_SLACK_DAYS[unit]), _back(today, lo, unit) + timedelta(days=_SLACK_DAYS[unit]))
    for m in _LAST_WEEKDAY.finditer(text):
        back = (today.weekday() - WEEKDAYS[m[1].lower()]) % 7 or 7
        day = today - timedelta(days=back)
        add(m, day, day)
    for m in _PAST_N.finditer(text):
        unit, count, bare = m[2].lower(), m[1], not m[0].lower().startswith("the") and m[1] is None
        if bare and m[0].lower().startswith(("last", "previous")):  # "last week": calendar or past 7 days
            if unit == "week":
                add(m, today - timedelta(days=14), today - timedelta(days=1))
            elif unit == "month":
                first = today.replace(day=1)
                prev_end = first - timedelta(days=1)
                add(m, prev_end.replace(day=1) - timedelta(days=3), prev_end + timedelta(days=3))
            elif unit == "year":
                add(m, date(today.year - 1, 1, 1), date(today.year - 1, 12, 31))
            else:  # "last day" of something: not a time reference we can trust
                continue
            continue
        n = _count(count) if count else 1
        add(m, _back(today, n, unit), today)
    for m in _DAY_WORD.finditer(text):
        day = today - timedelta(days=1) if m[1].lower() == "yesterday" else today
        add(m, day, day)
    for m in _THIS.finditer(text):
        unit = m[1].lower()
        start = {"week": today - timedelta(days=today.weekday()), "month": today.replace(day=1),
                 "year": date(today.year, 1, 1)}[unit]
        add(m, start, today)
    for m in _ON_DAY.finditer(text):
        day = _dated(today, MONTHS[m[1]], int(m[2]), m[3])
        if day:
            add(m, day - timedelta(days=1), day + timedelta(days=1))
    for m in _DAY_OF.finditer(text):
        day = _dated(today, MONTHS[m[2]], int(m[1]), m[3])
        if day:
            add(m, day - timedelta(days=1), day + timedelta(days=1))
    for m in _IN_MONTH.finditer(text):
        month = MONTHS[m[1]]
        year = int(m[2]) if m[2] else (today.year if month <= today.month else today.year - 1)
        if m[0].lower().startswith("last") and not m[2] and month == today.month:
            year -= 1  # "last May", asked in May: a year ago
        add(m, date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1]))
    if not found:
        return None
    return DateRange(min(f[0] for f in found), max(f[1] for f in found), tuple(f[2] for f in found))


def session_day(text: str) -> date | None:
    """The day of a session date ("2023/05/20 (Sat) 02:21", or ISO); None when unreadable."""
    return _ymd(re.match(r"\s*(\d{4})[/-](\d{1,2})[/-](\d{1,2})", text or ""))


def _ymd(m: re.Match | None) -> date | None:
    """The date of a match whose groups 1-3 are year, month, day; None when absent or impossible."""
    if not m:
        return None
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None


def _count(word: str) -> int:
    return int(word) if word.isdigit() else _NUMBERS[word.lower()]


def _back(today: date, n: int, unit: str) -> date:
    """n units before today; months and years by the calendar (May 31 - 1 month = Apr 30)."""
    if unit in ("month", "year"):
        months = n * (12 if unit == "year" else 1)
        y, m = divmod(today.year * 12 + today.month - 1 - months, 12)
        return date(y, m + 1, min(today.day, calendar.monthrange(y, m + 1)[1]))
    return today - timedelta(days=n * _UNIT_DAYS[unit])


def _dated(today: date, month: int, day: int, year: str | None) -> date | None:
    """A month-day in the given year, else the latest one not after today."""
    try:
        when = date(int(year) if year else today.year, month, day)
        if not year and when > today:
            when = date(today.year - 1, month, day)
        return when
    except ValueError:
        return None


def to_day(value: datetime | date) -> date:
    return value.date() if isinstance(value, datetime) else value
