from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tracekit._spans import Trace

# Below glibc's default mmap threshold (128 KiB), so write buffers come from the reused heap.
_CHUNK_BYTES = 64 * 1024


class JsonlExporter:
    """Appends one JSON line per trace to a file (the record of docs/schema.md).

    The file is opened in append mode and lines are written whole, in ``write`` calls of up
    to 64 KiB, so several processes can share one file without interleaving lines. The file
    and any directory created for it are readable by the owner only: traces hold prompts and
    outputs.

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
        # Written in chunks of whole lines: one buffer for a whole batch would be big enough
        # for malloc to map and unmap it on every batch, a page fault per 4 KiB each time.
        lines: list[bytes] = []
        size = 0
        for trace in traces:
            data = trace._json_line()
            lines.append(data)
            size += len(data) + 1
            if size >= _CHUNK_BYTES:
                self._write(fd, lines)
                lines, size = [], 0
        if lines:
            self._write(fd, lines)

    def _write(self, fd: int, lines: list[bytes]) -> None:
        lines.append(b"")  # the join then ends with a newline, without another copy
        if self._broken_line:
            # The last write stopped mid-line (disk full): end that line so these lines stay
            # whole; readers skip the one broken line.
            lines.insert(0, b"")
        data = b"\n".join(lines)
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
