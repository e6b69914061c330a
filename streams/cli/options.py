"""The options ``fit``, ``evaluate`` and ``score`` share: one name, short form, type and help each, so that a
command line written for one reads the same in the others.

Dates are text (``DATE``: a UTC date such as 2018-01-01 or a date-time, offsets allowed), parsed by
:func:`streams.cli.common.date_option`, so that every command accepts the same forms and names the option in its
error. Durations are text too (``DURATION``: 165d, 12h, 30m), parsed by :func:`streams.cli.common.duration_option`.
Metavars are short words: at 80 columns the help keeps every option name whole.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

_DATE = "(UTC date or time, e.g. 2018-01-01)"

Models = Annotated[
    list[Path], typer.Option("--model", "-m", metavar="FILE", help="Model YAML file (repeat for several).")
]
InputBootstrap = Annotated[
    str | None,
    typer.Option(
        "--bootstrap", "-b", metavar="HOST:PORT", help="Read the input topics of this Kafka cluster instead of files."
    ),
]
Events = Annotated[Path | None, typer.Option("--events", "-e", metavar="FILE", help="LeadEvent JSON lines.")]
Profiles = Annotated[Path | None, typer.Option("--profiles", "-p", metavar="FILE", help="LeadProfile JSON lines.")]
Conversions = Annotated[Path | None, typer.Option("--conversions", "-c", metavar="FILE", help="Conversion JSON lines.")]
Window = Annotated[
    str,
    typer.Option(
        "--window", "-w", metavar="DURATION", help="A lead converted when it won within this after its moment."
    ),
]
ObserveAfter = Annotated[
    str,
    typer.Option(
        "--observe-after",
        metavar="DURATION",
        help="Score each lead this long after it was first seen (0d: when it first appears, before its behaviour).",
    ),
]
Outcomes = Annotated[
    list[str] | None,
    typer.Option("--outcome", metavar="OUTCOME", help="Outcomes that count as converted (repeat; default WON)."),
]
FirstSeenFrom = Annotated[
    str | None, typer.Option("--first-seen-from", metavar="DATE", help=f"Only leads first seen from {_DATE}.")
]
FirstSeenUntil = Annotated[
    str | None, typer.Option("--first-seen-until", metavar="DATE", help=f"Only leads first seen before {_DATE}.")
]
DataEnd = Annotated[
    str | None,
    typer.Option("--data-end", metavar="DATE", help="The data is complete up to here (default: its latest time)."),
]
SkipInvalid = Annotated[
    bool, typer.Option("--skip-invalid", help="Count and skip invalid input lines instead of stopping.")
]
At = Annotated[
    str | None,
    typer.Option("--at", metavar="DATE", help=f"Score as of this time {_DATE}; default: the input's latest time."),
]
