"""[pure] Time values at the boundary: durations like `30m` and ISO-8601 UTC timestamps."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+)\s*([smhdw])")
MAX_SECONDS = 10 * 365 * 86400
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)  # room for any duration added later


def parse_duration(value: object) -> int:
    """`90`, `"90s"`, `"30m"`, `"1h30m"`, `"2d"` → whole seconds; ValueError says what is accepted."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration; write e.g. 30s, 30m, 2h, 1d")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str) and value.strip().isdigit():
        seconds = int(value.strip())
    elif isinstance(value, str) and re.fullmatch(r"(\s*\d+\s*[smhdw])+\s*", value):
        seconds = sum(int(n) * _UNITS[u] for n, u in _DURATION.findall(value))
    else:
        raise ValueError(f"{value!r} is not a duration; write e.g. 30s, 30m, 2h, 1d")
    if not 0 <= seconds <= MAX_SECONDS:
        raise ValueError(f"{value!r} is out of range (0 to 10 years)")
    return seconds


def format_time(moment: datetime) -> str:
    """A UTC timestamp as written in task files: 2026-11-25T01:46:47.123Z."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: str) -> datetime:
    """ISO-8601 with a zone (Z or ±hh:mm) → aware datetime; naive times are refused."""
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, AttributeError):
        raise ValueError(f"{value!r} is not an ISO-8601 time like 2026-11-25T18:00:00Z") from None
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone; add Z for UTC")
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # the zone moves it past year 1 or 9999
        moment = None
    if moment is None or not EARLIEST <= moment < LATEST:
        raise ValueError(f"{value!r} is out of range; give a time between 1970 and 9000")
    return moment


def parse_deadline(value: object, now: datetime) -> datetime:
    """A deadline is either a duration from now (`30m`) or an absolute ISO time."""
    if isinstance(value, str) and ("T" in value or "-" in value.strip()[1:]):
        return parse_time(value)
    try:
        return now + timedelta(seconds=parse_duration(value))
    except ValueError:
        raise ValueError(
            f"{value!r} is neither a duration (30m, 2h, 1d) nor an ISO time (2026-11-25T18:00:00Z)"
        ) from None
