"""The ``tracekit`` command line: list, show, export, prune and summarise stored traces.

Built with typer and rich, which only this module imports (``import tracekit`` does not).
See docs/cli.md. Exit codes: 0 success, 1 not found (no store at the path, no such trace),
2 usage error (bad option or filter value, ambiguous id prefix), 3 the store cannot be used
(not a tracekit store, newer layout, locked, damaged).

Example:
    $ tracekit traces ls --since 1h --status ERROR
    $ tracekit traces show 4bf92f35
"""

from __future__ import annotations

import contextlib
import enum
import os
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from ._cli_options import StoreOpt
from .store import (
    ORDER_BY_VALUES,
    SpanRecord,
    StoreError,
    StoreNotFoundError,
    StoreStats,
    TraceDetail,
    TraceStore,
    TraceSummary,
    parse_time,
)
from .ui.cli import register as register_ui

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_USAGE = 2
EXIT_STORE = 3

app = typer.Typer(
    name="tracekit",
    help="Search and inspect the traces tracekit stored on this machine.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
traces_app = typer.Typer(
    help="List, show, export and prune traces.", no_args_is_help=True, add_completion=False
)
app.add_typer(traces_app, name="traces")


def _out() -> Console:
    # Created per call so that output capture (tests) sees the current sys.stdout. Piped
    # output is not cut to 80 columns: a line per trace is what grep and friends expect.
    wide = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(highlight=False, width=200 if wide else None)


def _err() -> Console:
    return Console(stderr=True, highlight=False)


def _fail(code: int, message: str) -> NoReturn:
    _err().print(f"[bold red]Error:[/] {escape(message)}")
    raise typer.Exit(code)


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """Turn the library's exceptions into messages and documented exit codes."""
    try:
        yield
    except StoreNotFoundError as exc:
        _fail(EXIT_NOT_FOUND, str(exc))
    except StoreError as exc:
        _fail(EXIT_STORE, str(exc))
    except ValueError as exc:
        _fail(EXIT_USAGE, str(exc))


# -- options shared by several commands -----------------------------------------------------------

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead.")]
SinceOpt = Annotated[
    str | None,
    typer.Option(help="Started at or after: 30m, 1h, 7d, an ISO date/time or Unix seconds."),
]
UntilOpt = Annotated[str | None, typer.Option(help="Started before (same forms as --since).")]
NameOpt = Annotated[str | None, typer.Option(help="Trace name, exactly.")]
ModelOpt = Annotated[
    str | None, typer.Option(help="A model any span used; globs allowed: 'gpt-4o*'.")
]
ProviderOpt = Annotated[str | None, typer.Option(help="A provider any span used (glob).")]
StatusOpt = Annotated[str | None, typer.Option(help="OK or ERROR.")]
TagOpt = Annotated[
    list[str] | None, typer.Option("--tag", help="KEY=VALUE tag the trace has; repeatable.")
]
MetaOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--meta",
        help="KEY=VALUE in the trace's metadata; VALUE is read as JSON if it parses"
        " (2, true, null), else as text. Repeatable.",
    ),
]
UserOpt = Annotated[str | None, typer.Option("--user", help="User id.")]
SessionOpt = Annotated[str | None, typer.Option("--session", help="Session id.")]
MinDurationOpt = Annotated[
    float | None, typer.Option("--min-duration", help="At least this long, in ms.")
]
MinCostOpt = Annotated[float | None, typer.Option("--min-cost", help="Costing at least this, USD.")]
TextOpt = Annotated[
    str | None,
    typer.Option(help="Words that must start words of names, inputs, outputs or errors."),
]
TraceIdOpt = Annotated[
    str | None, typer.Option("--trace-id", help="A trace id or a prefix of one.")
]


class Order(enum.StrEnum):
    """Sort orders of ``traces ls`` / ``traces export``."""

    start_time = "start_time"
    newest = "-start_time"
    duration = "duration"
    slowest = "-duration"
    cost = "cost"
    costliest = "-cost"


assert tuple(o.value for o in Order) == ORDER_BY_VALUES


def _pairs(option: str, values: list[str] | None) -> list[tuple[str, str]]:
    out = []
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint=option)
        out.append((key, value))
    return out


def _meta_value(raw: str) -> Any:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw
    return value if value is None or isinstance(value, (str, int, float, bool)) else raw


def _filter_args(
    *,
    trace_id: str | None,
    name: str | None,
    model: str | None,
    provider: str | None,
    status: str | None,
    since: str | None,
    until: str | None,
    tag: list[str] | None,
    meta: list[str] | None,
    user: str | None,
    session: str | None,
    min_duration: float | None,
    min_cost: float | None,
    text: str | None,
) -> dict[str, Any]:
    tags = dict(_pairs("--tag", tag))
    metadata = {k: _meta_value(v) for k, v in _pairs("--meta", meta)}
    return {
        "trace_id": trace_id,
        "name": name,
        "model": model,
        "provider": provider,
        "status": status,
        "since": since,
        "until": until,
        "tags": tags or None,
        "metadata": metadata or None,
        "user_id": user,
        "session_id": session,
        "min_duration_ms": min_duration,
        "min_cost_usd": min_cost,
        "text": text,
    }


# -- formatting -----------------------------------------------------------------------------------


def fmt_ms(ms: float | None) -> str:
    """A duration for people: ``850 µs``, ``12.3 ms``, ``2.41 s``, ``3m 05s``."""
    if ms is None:
        return "?"
    if ms < 1:
        return f"{ms * 1000:.0f} µs"
    if ms < 1000:
        return f"{ms:.1f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    minutes, seconds = divmod(ms / 1000, 60)
    return f"{minutes:.0f}m {seconds:02.0f}s"


def fmt_cost(cost: float | None) -> str:
    """``$0.000211``; ``-`` when unknown."""
    if cost is None:
        return "-"
    if cost == 0:
        return "$0"
    return "$" + (f"{cost:.6f}".rstrip("0").rstrip(".") if cost < 1 else f"{cost:,.2f}")


def fmt_tokens(usage: dict[str, int] | None) -> str:
    """``1067/84`` (input/output), or the total alone, or ``-``."""
    if not usage:
        return "-"
    if "input_tokens" in usage or "output_tokens" in usage:
        return f"{usage.get('input_tokens', '?')}/{usage.get('output_tokens', '?')}"
    if "total_tokens" in usage:
        return str(usage["total_tokens"])
    return "-"


def _n(count: int, noun: str) -> str:
    """``1 trace``, ``3 traces``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _local(ns: int, *, year: bool = True) -> str:
    fmt = "%Y-%m-%d %H:%M:%S" if year else "%m-%d %H:%M:%S"
    return datetime.fromtimestamp(ns / 1e9).strftime(fmt)


def _status(status: str) -> Text:
    return Text(status, style="bold red" if status == "ERROR" else "green")


def _dump_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


# -- traces ls ------------------------------------------------------------------------------------


@traces_app.command("ls")
def traces_ls(
    since: SinceOpt = None,
    until: UntilOpt = None,
    name: NameOpt = None,
    model: ModelOpt = None,
    provider: ProviderOpt = None,
    status: StatusOpt = None,
    tag: TagOpt = None,
    meta: MetaOpt = None,
    user: UserOpt = None,
    session: SessionOpt = None,
    min_duration: MinDurationOpt = None,
    min_cost: MinCostOpt = None,
    text: TextOpt = None,
    trace_id: TraceIdOpt = None,
    order_by: Annotated[Order, typer.Option("--order-by", help="Sort order.")] = Order.newest,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many.")] = 20,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many first.")] = 0,
    json_: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """List traces, newest first: time, id, name, status, duration, tokens, cost, models."""
    with _errors():
        filters = _filter_args(
            trace_id=trace_id,
            name=name,
            model=model,
            provider=provider,
            status=status,
            since=since,
            until=until,
            tag=tag,
            meta=meta,
            user=user,
            session=session,
            min_duration=min_duration,
            min_cost=min_cost,
            text=text,
        )
        with TraceStore.open(store) as opened:
            found = opened.search(**filters, order_by=order_by.value, limit=limit, offset=offset)
    if json_:
        _dump_json([t.model_dump(mode="json") for t in found])
        return
    out = _out()
    if not found:
        out.print("No traces match.")
        return
    out.print(_traces_table(found, limit=limit, offset=offset, width=out.width))


def _traces_table(found: list[TraceSummary], *, limit: int, offset: int, width: int) -> Table:
    rows = [
        (
            _local(t.start_time_ns, year=False),
            t.trace_id[:12],
            t.name,
            t.status,
            fmt_ms(t.duration_ms),
            fmt_tokens(t.usage),
            fmt_cost(t.cost_usd),
            ", ".join(t.models),
        )
        for t in found
    ]
    headers = ("Time", "Trace ID", "Name", "Status", "Duration", "Tokens", "Cost", "Models")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    # Every column but Name and Models keeps its width; those two share what is left (cut
    # with "…"), so a narrow terminal never mangles the numbers.
    room = width - (sum(widths) - widths[2] - widths[7]) - 2 * (len(headers) - 1)
    widths[2] = max(6, min(widths[2], room // 2 if widths[7] > room // 2 else room - widths[7]))
    widths[7] = max(6, min(widths[7], room - widths[2]))
    table = Table(box=None, header_style="bold", pad_edge=False)
    for i, header in enumerate(headers):
        table.add_column(
            header,
            width=widths[i],
            no_wrap=True,
            overflow="ellipsis",
            justify="right" if header in ("Duration", "Tokens", "Cost") else "left",
            style="cyan" if header == "Trace ID" else None,
        )
    for row in rows:
        table.add_row(*row[:3], _status(row[3]), *row[4:])
    more = len(found) == limit
    table.caption = _n(len(found), "trace") + (
        f"; more with --offset {offset + limit}" if more else ""
    )
    return table


# -- traces show ----------------------------------------------------------------------------------


@traces_app.command("show")
def traces_show(
    trace_id: Annotated[str, typer.Argument(help="Trace id, or a unique prefix of 6+ hex digits.")],
    full: Annotated[bool, typer.Option("--full", help="Show inputs and outputs whole.")] = False,
    json_: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Show one trace as a tree of spans with timings, models, tokens, costs and errors."""
    with _errors(), TraceStore.open(store) as opened:
        detail = opened.get(trace_id)
    if detail is None:
        _fail(EXIT_NOT_FOUND, f"no trace {trace_id!r} in {opened.path}")
    if json_:
        _dump_json(detail.model_dump(mode="json"))
        return
    out = _out()
    out.print(_trace_header(detail))
    out.print(_span_tree(detail, full=full))


def _trace_header(t: TraceDetail) -> Text:
    head = Text.assemble(
        ("Trace ", "bold"),
        (t.trace_id, "cyan"),
        "  ",
        (t.name, "bold"),
        "  ",
        _status(t.status),
    )
    facts = [
        _local(t.start_time_ns),
        fmt_ms(t.duration_ms),
        _n(t.span_count, "span") + (f", {t.error_count} failed" if t.error_count else ""),
    ]
    if t.usage:
        facts.append(f"tokens {fmt_tokens(t.usage)}")
    if t.cost_usd is not None:
        facts.append(fmt_cost(t.cost_usd))
    if t.late_span_count:
        facts.append(_n(t.late_span_count, "late span"))
    head.append("\n" + "  ·  ".join(facts))
    who = []
    if t.user_id:
        who.append(f"user {t.user_id}")
    if t.session_id:
        who.append(f"session {t.session_id}")
    if t.tags:
        who.append("tags " + ", ".join(f"{k}={v}" for k, v in t.tags.items()))
    if t.metadata:
        who.append("metadata " + orjson.dumps(t.metadata).decode())
    if who:
        head.append("\n" + "  ·  ".join(who), style="dim")
    if not t.has_root:
        head.append("\nonly late spans of this trace were stored", style="yellow")
    return head


BAR_WIDTH = 24
SHORT_CHARS = 160


def _bar(span: SpanRecord, start: int, total: int) -> Text:
    """Where the span sits in the trace: a waterfall bar of BAR_WIDTH cells."""
    if total <= 0:
        first, cells = 0, BAR_WIDTH
    else:
        first = min(BAR_WIDTH - 1, int((span.start_time_ns - start) / total * BAR_WIDTH))
        cells = max(1, round((span.end_time_ns - span.start_time_ns) / total * BAR_WIDTH))
        cells = min(cells, BAR_WIDTH - first)
    style = "red" if span.status == "ERROR" else "green"
    return Text.assemble(
        ("▕", "dim"),
        " " * first,
        ("█" * cells, style),
        " " * (BAR_WIDTH - first - cells),
        ("▏", "dim"),
    )


def _io_text(value: Any, full: bool) -> str:
    if isinstance(value, str):
        text = value
    else:
        option = orjson.OPT_INDENT_2 if full else 0
        text = orjson.dumps(value, option=option).decode()
    if full:
        return text
    text = text.replace("\n", "\\n")
    return text if len(text) <= SHORT_CHARS else text[: SHORT_CHARS - 1] + "…"


def _span_label(span: SpanRecord, start: int, total: int) -> Text:
    label = Text.assemble(
        (span.name, "bold red" if span.status == "ERROR" else "bold"),
        " ",
        (f"[{span.span_type}]", "magenta"),
        "  ",
        _bar(span, start, total),
        " ",
        (fmt_ms(span.duration_ms), "yellow"),
    )
    if span.model:
        label.append(f"  {span.model}", style="blue")
    if span.usage:
        label.append(f"  {fmt_tokens(span.usage)} tok")
    if span.cost_usd is not None:
        label.append(f"  {fmt_cost(span.cost_usd)}")
    if span.late:
        label.append("  late", style="yellow")
    if span.status == "ERROR":
        err = span.error or {}
        message = err.get("message") or span.status_message or ""
        kind = err.get("type") or "ERROR"
        label.append(f"\n{kind}: {message}".rstrip(": "), style="red")
    return label


def _span_tree(t: TraceDetail, *, full: bool) -> Tree:
    spans = list(t.walk())
    start = min((s.start_time_ns for s in spans), default=t.start_time_ns)
    end = max((s.end_time_ns for s in spans), default=t.end_time_ns)
    tree = Tree(Text(f"{t.name}", style="bold"), guide_style="dim")

    def add(node: Tree, span: SpanRecord) -> None:
        branch = node.add(_span_label(span, start, end - start))
        if span.inputs is not None:
            branch.add(Text.assemble(("in:  ", "dim cyan"), _io_text(span.inputs, full)))
        if span.outputs is not None:
            branch.add(Text.assemble(("out: ", "dim cyan"), _io_text(span.outputs, full)))
        for child in span.children:
            add(branch, child)

    for root in t.spans:
        add(tree, root)
    return tree


# -- traces export --------------------------------------------------------------------------------


class ExportFormat(enum.StrEnum):
    """Output formats of ``traces export``."""

    jsonl = "jsonl"


@traces_app.command("export")
def traces_export(
    format_: Annotated[
        ExportFormat, typer.Option("--format", help="jsonl: one record (docs/schema.md) a line.")
    ] = ExportFormat.jsonl,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write here instead of stdout.", dir_okay=False),
    ] = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    name: NameOpt = None,
    model: ModelOpt = None,
    provider: ProviderOpt = None,
    status: StatusOpt = None,
    tag: TagOpt = None,
    meta: MetaOpt = None,
    user: UserOpt = None,
    session: SessionOpt = None,
    min_duration: MinDurationOpt = None,
    min_cost: MinCostOpt = None,
    text: TextOpt = None,
    trace_id: TraceIdOpt = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many.")] = None,
    store: StoreOpt = None,
) -> None:
    """Write whole traces (late spans merged in) as JSONL records, oldest first."""
    del format_  # one format so far; the option exists so scripts can name it
    with _errors():
        filters = _filter_args(
            trace_id=trace_id,
            name=name,
            model=model,
            provider=provider,
            status=status,
            since=since,
            until=until,
            tag=tag,
            meta=meta,
            user=user,
            session=session,
            min_duration=min_duration,
            min_cost=min_cost,
            text=text,
        )
        with TraceStore.open(store) as opened:
            traces = opened.iter_traces(**filters, order_by="start_time", limit=limit)
            count = _write_jsonl(traces, output)
    if output is not None:
        _err().print(f"Exported {_n(count, 'trace')} to {escape(str(output))}")


def _write_jsonl(traces: Iterator[TraceDetail], output: Path | None) -> int:
    count = 0
    if output is None:
        stream = sys.stdout.buffer if hasattr(sys.stdout, "buffer") else None
        for t in traces:
            line = orjson.dumps(t.to_record()) + b"\n"
            if stream is not None:
                stream.write(line)
            else:
                sys.stdout.write(line.decode())
            count += 1
        if stream is not None:
            stream.flush()
        return count
    try:
        # Traces hold prompts and outputs: a new file is readable by its owner only.
        fd = os.open(output.expanduser(), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            for t in traces:
                f.write(orjson.dumps(t.to_record()) + b"\n")
                count += 1
    except OSError as exc:
        _fail(EXIT_USAGE, f"cannot write {output}: {exc.strerror}")
    return count


# -- traces prune ---------------------------------------------------------------------------------


@traces_app.command("prune")
def traces_prune(
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than", help="Delete traces that started before: 30d, 12h, an ISO date."
        ),
    ],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    vacuum: Annotated[
        bool,
        typer.Option("--vacuum", help="Then compact the file (blocks writers while it runs)."),
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count.")] = False,
    store: StoreOpt = None,
) -> None:
    """Delete old traces from a SQLite store, printing how many went."""
    with _errors(), TraceStore.open(store) as opened:
        cutoff = parse_time(older_than, name="--older-than")
        counted = opened.prune(cutoff / 1e9, dry_run=True)
        when = _local(cutoff)
        out = _out()
        if counted.traces == 0:
            out.print(f"No traces started before {when}; nothing to delete.")
            return
        summary = (
            f"{_n(counted.traces, 'trace')} ({_n(counted.spans, 'span')}) that started"
            f" before {when}"
        )
        if dry_run:
            out.print(f"Would delete {summary}.")
            return
        if not yes and not typer.confirm(f"Delete {summary} from {opened.path}?", default=False):
            out.print("Nothing deleted.")
            return
        result = opened.prune(cutoff / 1e9, vacuum=vacuum)
        out.print(
            f"Deleted {_n(result.traces, 'trace')} ({_n(result.spans, 'span')}) that started"
            f" before {when}" + (" and compacted the store." if result.vacuumed else ".")
        )


# -- stats ----------------------------------------------------------------------------------------


@app.command("stats")
def stats(
    since: SinceOpt = None,
    until: UntilOpt = None,
    json_: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Calls, tokens, cost, error rate and p50/p95 latency by model and by day."""
    with _errors(), TraceStore.open(store) as opened:
        result = opened.stats(since=since, until=until)
    if json_:
        _dump_json(result.model_dump(mode="json"))
        return
    out = _out()
    if result.traces == 0:
        out.print("No traces in this range.")
        return
    out.print(_model_table(result))
    out.print(_day_table(result))


def _pct(rate: float) -> str:
    return f"{rate * 100:.1f}%"


def _model_table(result: StoreStats) -> Table:
    table = Table(
        title="By model", title_justify="left", box=None, header_style="bold", pad_edge=False
    )
    table.add_column("Model", overflow="fold", min_width=14)
    table.add_column("Provider", overflow="fold", min_width=8)
    for column in ("Calls", "Errors", "In tok", "Out tok", "Cost", "p50", "p95"):
        table.add_column(column, justify="right", no_wrap=True)
    for m in result.by_model:
        table.add_row(
            m.model,
            m.provider or "-",
            str(m.calls),
            Text(_pct(m.error_rate), style="red" if m.errors else ""),
            f"{m.input_tokens:,}",
            f"{m.output_tokens:,}",
            fmt_cost(m.cost_usd),
            fmt_ms(m.p50_ms),
            fmt_ms(m.p95_ms),
        )
    if not result.by_model:
        table.caption = "no model calls in this range"
    return table


def _day_table(result: StoreStats) -> Table:
    table = Table(
        title="By day", title_justify="left", box=None, header_style="bold", pad_edge=False
    )
    table.add_column("Day", no_wrap=True)
    for column in ("Traces", "Errors", "Spans", "Tokens", "Cost", "p50", "p95"):
        table.add_column(column, justify="right", no_wrap=True)
    for d in result.by_day:
        table.add_row(
            d.day.isoformat(),
            str(d.traces),
            Text(_pct(d.error_rate), style="red" if d.errors else ""),
            str(d.spans),
            f"{d.total_tokens:,}",
            fmt_cost(d.cost_usd),
            fmt_ms(d.p50_ms),
            fmt_ms(d.p95_ms),
        )
    return table


register_ui(app)  # `tracekit ui`: needs the `ui` extra only when run


def main() -> None:
    """Entry point of the ``tracekit`` console script."""
    app(prog_name="tracekit")


if __name__ == "__main__":
    main()
