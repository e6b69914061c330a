"""What every leadscore command shares: one-line errors, the --bootstrap option, durations, dates, progress bars."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from scoring import LeadscoreError
from scoring.conversions import Outcome
from scoring.durations import parse_duration
from streams.settings import Settings, load_settings

err = Console(stderr=True)
_ZERO = re.compile(r"^\s*0+(\.0*)?\s*(ms|s|m|h|d|w)?\s*$")

Bootstrap = Annotated[
    str | None,
    typer.Option("--bootstrap", "-b", help="Kafka bootstrap servers (default: LEADSCORE_BOOTSTRAP_SERVERS)."),
]


class OptionError(LeadscoreError):
    """A command-line option has a value leadscore cannot use; the message names the option and what it expects."""


def fail(error: Exception) -> NoReturn:
    """Print ``error`` as one line on stderr and exit with status 2 (bad input), without a traceback."""
    err.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def duration_option(option: str, text: str, zero: bool = False) -> int:
    """Milliseconds of a duration such as 165d, 12h or 30m; 0 (``0d``) only where ``zero`` allows it."""
    if zero and _ZERO.match(text):
        return 0
    try:
        ms = parse_duration(text)
    except ValueError as exc:
        raise OptionError(f"{option} {text!r}: {exc}") from None
    if ms <= 0:
        raise OptionError(f"{option} {text!r}: give a positive duration such as 165d")
    return ms


def outcome_option(names: list[str] | None) -> frozenset[Outcome]:
    """The outcomes of ``--outcome`` (default WON), by name in any case."""
    try:
        return frozenset(Outcome(name.strip().upper()) for name in names or ["WON"])
    except ValueError:
        known = ", ".join(o.value for o in Outcome)
        raise OptionError(f"--outcome {', '.join(names or [])!r}: expected one of {known}") from None


def millis(value: datetime | None) -> int | None:
    """Unix ms of a date-time option (UTC when it has no offset)."""
    return None if value is None else int(value.replace(tzinfo=value.tzinfo or UTC).timestamp() * 1000)


def date_option(option: str, value: str | None) -> int | None:
    """A UTC date (2018-01-01) or date-time (2018-01-01T12:00, offsets allowed) given as text, as Unix ms."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = datetime.combine(date.fromisoformat(value.strip()), datetime.min.time())
        except ValueError:
            raise OptionError(f"{option} {value!r}: expected a date such as 2018-01-01") from None
    return millis(moment)


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr (only on a terminal); yields ``update(done, total)``."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, disable=not err.is_terminal) as progress:
        task = progress.add_task(description, total=None)
        yield lambda done, total: progress.update(task, completed=done, total=total)


def settings_from_options(**overrides: object) -> Settings:
    """The settings from the environment, with the options the user gave (None: not given) on top."""
    return load_settings(**{key: value for key, value in overrides.items() if value is not None})
