from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tracekit._spans import Trace


class JsonlExporter:
    """Appends one JSON line per trace to a file (the record of docs/schema.md).

    The file is opened in append mode and each batch is written with a single ``write`` call,
    so several processes can share one file without interleaving lines. The file and any
    directory created for it are readable by the owner only: traces hold prompts and outputs.

    Args:
        path: the file; parent directories are created.

    Raises:
        OSError: at construction, when the file cannot be created or opened.

    Example:
        >>> tracekit.configure(exporters=[tracekit.JsonlExporter("traces.jsonl")])
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._fd: int | None = os.open(
            self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600
        )
        self._broken_line = False

    def __repr__(self) -> str:
        return f"JsonlExporter({str(self.path)!r})"

    def export(self, traces: Sequence[Trace]) -> None:
        fd = self._fd
        if fd is None:
            raise RuntimeError(f"{self!r} was shut down")
        data = b"\n".join([t.to_json() for t in traces]) + b"\n"
        if self._broken_line:
            # The last batch stopped mid-line (disk full): end that line so this batch's
            # lines stay whole; readers skip the one broken line.
            data = b"\n" + data
        view = memoryview(data)
        while view:
            try:
                written = os.write(fd, view)
            except OSError:
                self._broken_line = len(view) != len(data)
                raise
            view = view[written:]
        self._broken_line = False

    def flush(self, timeout_s: float) -> bool:
        return True  # os.write leaves nothing buffered in this process

    def shutdown(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
