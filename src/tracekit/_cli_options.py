"""Command-line options used by more than one module of the ``tracekit`` command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

StoreOpt = Annotated[
    Path | None,
    typer.Option(
        "--store",
        help="Store to read: a SQLite store or a .jsonl file."
        " [default: $TRACEKIT_HOME/traces.db, TRACEKIT_HOME defaulting to ~/.tracekit]",
        show_default=False,
        dir_okay=False,
    ),
]
