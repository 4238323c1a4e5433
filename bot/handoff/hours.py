"""Trainers' office hours (India Standard Time) and when the next answer can be expected."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, timezone

IST = timezone(timedelta(hours=5, minutes=30), "IST")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class OfficeHours:
    """Daily opening window on some weekdays, in IST.

    Args:
        start: opening time.
        end: closing time (after ``start``).
        days: weekday numbers (Monday = 0) on which trainers work.
    """

    start: time
    end: time
    days: frozenset[int]

    @classmethod
    def parse(cls, hours: str, days: str) -> OfficeHours:
        """Build from ``"09:30-17:30"`` and ``"mon,tue,wed,thu,fri"`` (or ``"mon-fri"``).

        Raises:
            ValueError: malformed hours or day names.
        """
        start_s, _, end_s = hours.partition("-")
        start, end = time.fromisoformat(start_s.strip()), time.fromisoformat(end_s.strip())
        if end <= start:
            raise ValueError(f"office hours must end after they start: {hours!r}")
        chosen: set[int] = set()
        for part in days.lower().replace(" ", "").split(","):
            if "-" in part:
                first, last = (_DAYS.index(p) for p in part.split("-", 1))
                chosen.update(range(first, last + 1))
            elif part:
                chosen.add(_DAYS.index(part))
        return cls(start, end, frozenset(chosen))

    def is_open(self, now: datetime) -> bool:
        """Whether trainers are at work at ``now`` (aware datetime)."""
        local = now.astimezone(IST)
        return local.weekday() in self.days and self.start <= local.time() < self.end

    def next_open(self, now: datetime) -> datetime:
        """The next opening time in IST (``now`` itself when open)."""
        if self.is_open(now):
            return now.astimezone(IST)
        local = now.astimezone(IST)
        for offset in range(8):
            day = (local + timedelta(days=offset)).date()
            candidate = datetime.combine(day, self.start, IST)
            if day.weekday() in self.days and candidate > local:
                return candidate
        raise ValueError("office hours have no working day")

    def describe(self) -> str:
        """E.g. ``Mon-Fri 09:30-17:30 IST``."""
        names = [_DAYS[d].capitalize() for d in sorted(self.days)]
        span = f"{names[0]}-{names[-1]}" if names == [_DAYS[d].capitalize() for d in
                                                      range(min(self.days), max(self.days) + 1)] else ",".join(names)
        return f"{span} {self.start:%H:%M}-{self.end:%H:%M} IST"


def utcnow() -> datetime:
    """Aware current UTC time (the store only takes aware datetimes)."""
    return datetime.now(UTC)
