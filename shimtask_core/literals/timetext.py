"""Datetimes and durations as text: one grammar on every Python version.

``datetime.fromisoformat`` reads a different language on each release (3.10
rejects ``2024-05-06T07:08:09.5Z`` and ``20240506T070809Z``, which 3.11 accepts,
silently dropping digits beyond microseconds), so text inputs and the datetimes
inside dataclass values are read here instead:

* a date: ``2024-05-06`` or ``20240506``, or a week date ``2024-W19-1`` /
  ``2024W191`` (``2024-W19`` is its Monday); a date alone is midnight;
* then ``T`` (or a space) and a time: ``07``, ``07:08``, ``0708``, ``07:08:09``,
  ``070809``, seconds with a fraction (``.5`` or ``,5``, any number of digits);
* then an offset: ``Z``, ``+01``, ``+01:00``, ``+0100``; none means UTC.

Python datetimes keep microseconds; a fraction with non-zero digits beyond them
(Flyte timestamps have nanoseconds) is refused rather than truncated, so no
value is changed without a word. The result is always aware and in UTC, within
``0001-01-01T00:00:00Z``..``9999-12-31T23:59:59.999999Z`` (a Flyte timestamp's range).

Durations are seconds (``90``, ``1.5``), units (``1d2h3m4.5s``, any of them, in
that order) or ISO 8601 (``PT1H30M``, ``P1DT2H``), within a Flyte duration's
range (+-10,000 years).
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Final

UTC: Final = _dt.timezone.utc

_DATE: Final = (r"(?P<year>\d{4})(?:"
                r"-(?P<month>\d{2})-(?P<day>\d{2})|(?P<bmonth>\d{2})(?P<bday>\d{2})"
                r"|-W(?P<week>\d{2})(?:-(?P<wday>\d))?|W(?P<bweek>\d{2})(?P<bwday>\d)?)")
_TIME: Final = (r"(?P<hour>\d{2})(?:"
                r":(?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d+))?)?"
                r"|(?P<bminute>\d{2})(?:(?P<bsecond>\d{2})(?:[.,](?P<bfraction>\d+))?)?)?")
_OFFSET: Final = r"(?P<zulu>[Zz])|(?P<sign>[+-])(?P<oh>\d{2})(?::?(?P<om>\d{2}))?"
# Patterns as text: ``re`` compiles (and caches) them when text is first read, not when
# the codec is imported by an execution that reads none.
_DATETIME: Final = rf"{_DATE}(?:[Tt ]{_TIME}(?:{_OFFSET})?)?"
_NUMBER: Final = r"(\d+(?:[.,]\d+)?)"
_UNITS: Final = rf"(?:{_NUMBER}d)?(?:{_NUMBER}h)?(?:{_NUMBER}m)?(?:{_NUMBER}s)?"
_ISO_DURATION: Final = (rf"[Pp](?:{_NUMBER}[Dd])?(?:[Tt](?:{_NUMBER}[Hh])?(?:{_NUMBER}[Mm])?"
                        rf"(?:{_NUMBER}[Ss])?)?")

#: A Flyte (protobuf) Duration's range: +-10,000 years, in seconds.
MAX_DURATION_SECONDS: Final = 315_576_000_000
EXAMPLE: Final = "like 2024-05-06T07:08:09Z"


def parse_datetime(text: str) -> _dt.datetime:
    """The aware UTC datetime ``text`` denotes; ValueError saying what is wrong."""
    match = re.fullmatch(_DATETIME, text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not an ISO 8601 datetime ({EXAMPLE})")
    g = match.groupdict()
    try:
        day = _date(g)
        hour = int(g["hour"] or 0)
        minute = int(g["minute"] or g["bminute"] or 0)
        second = int(g["second"] or g["bsecond"] or 0)
        fraction = g["fraction"] or g["bfraction"] or ""
        value = _dt.datetime(day.year, day.month, day.day, hour, minute, second,
                             _microseconds(fraction), tzinfo=_offset(g))
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid datetime: {exc}") from None
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{text!r} is outside the datetimes Flyte can hold "
                         f"(0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z in UTC)") from None


def _date(g: dict[str, str | None]) -> _dt.date:
    year = int(g["year"] or 0)  # (the pattern always has one)
    week = g["week"] or g["bweek"]
    if week is not None:
        return _dt.date.fromisocalendar(year, int(week), int(g["wday"] or g["bwday"] or 1))
    return _dt.date(year, int(g["month"] or g["bmonth"] or 0), int(g["day"] or g["bday"] or 0))


def _microseconds(fraction: str) -> int:
    digits = fraction.ljust(6, "0")
    if digits[6:].strip("0"):
        raise ValueError(f"{fraction!r} has digits beyond microseconds, which a Python "
                         f"datetime cannot keep (round it to 6 digits)")
    return int(digits[:6])


def _offset(g: dict[str, str | None]) -> _dt.tzinfo:
    if g["sign"] is None:
        return UTC  # "Z", or no offset at all: a time without one is taken as UTC
    minutes = int(g["oh"] or 0) * 60 + int(g["om"] or 0)
    if int(g["om"] or 0) >= 60 or minutes >= 24 * 60:
        raise ValueError(f"the offset {g['sign']}{g['oh']}:{g['om'] or '00'} is out of range")
    return _dt.timezone(_dt.timedelta(minutes=-minutes if g["sign"] == "-" else minutes))


def duration_from_seconds(seconds: float) -> _dt.timedelta:
    """A timedelta of ``seconds``, or ValueError when no Flyte duration is that long."""
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        raise ValueError(f"{seconds} seconds is not a finite duration")
    if abs(seconds) > MAX_DURATION_SECONDS:
        raise ValueError(f"{seconds:g} seconds is beyond the longest duration Flyte can hold "
                         f"(+-{MAX_DURATION_SECONDS} seconds, 10,000 years)")
    return _dt.timedelta(seconds=seconds)


def parse_duration(text: str) -> _dt.timedelta:
    """The timedelta ``text`` denotes (seconds, units or ISO 8601); ValueError if none."""
    stripped = text.strip()
    sign, body = (-1, stripped[1:]) if stripped[:1] == "-" else (1, stripped.lstrip("+"))
    try:
        seconds = float(body)
    except ValueError:
        match = re.fullmatch(_UNITS, body) or re.fullmatch(_ISO_DURATION, body)
        if not body or match is None or not any(match.groups()) or body.upper().endswith("T"):
            raise ValueError(f"{text!r} is not a duration (seconds, or like 1h30m or "
                             f"PT1H30M)") from None
        days, hours, minutes, secs = (float(g.replace(",", ".")) if g else 0.0
                                      for g in match.groups())
        seconds = ((days * 24 + hours) * 60 + minutes) * 60 + secs
    else:
        if body.lower().lstrip("+-") in ("inf", "infinity", "nan"):
            raise ValueError(f"{text!r} is not a finite duration")
    return duration_from_seconds(sign * seconds)
