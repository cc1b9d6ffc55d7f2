"""The export pipeline: a bounded queue and a daemon worker per exporter.

Finished traces are appended to every worker's queue on the app's thread (a deque append and,
at most, an Event.set); each worker batches by size and time and calls its exporter, so a slow
or hung exporter delays nobody else. Exit flushes with a bound; a fork gives the child fresh
queues and workers.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._internal import internal_error, log_once, logger

if TYPE_CHECKING:
    from ._spans import Trace
    from .exporters import Exporter


class ExportWorker:
    """One exporter, its queue, its thread and its counters."""

    def __init__(
        self,
        exporter: Exporter,
        name: str,
        *,
        max_queue_size: int,
        batch_size: int,
        interval_s: float,
    ) -> None:
        self.exporter = exporter
        self.name = name
        self.max_queue_size = max_queue_size
        self.batch_size = batch_size
        self.interval_s = interval_s
        self._init_runtime()
        self.traces_exported = 0
        self.spans_exported = 0
        self.traces_dropped = 0
        self.spans_dropped = 0
        self.traces_failed = 0
        self.spans_failed = 0

    def _init_runtime(self) -> None:
        # Everything a forked child must not share with its parent.
        self.queue: deque[Trace] = deque()
        self.wake = threading.Event()
        self.progress = threading.Condition(threading.Lock())
        self.thread: threading.Thread | None = None
        self.stopping = False
        self.submitted = 0  # traces accepted into the queue
        self.handled = 0  # traces taken off the queue and exported (or failed)
        self.flush_target = 0  # a flush() waits until `handled` reaches this

    def after_fork_in_child(self) -> None:
        # The parent exports what it had queued; the child starts empty. An exporter lock
        # held by the parent's worker at fork time would never be released in the child.
        self._init_runtime()
        reinit = getattr(self.exporter, "_after_fork_in_child", None)
        if callable(reinit):
            reinit()
        self.traces_exported = self.spans_exported = 0
        self.traces_dropped = self.spans_dropped = 0
        self.traces_failed = self.spans_failed = 0

    # -- producer side (app threads) ----------------------------------------------------

    def submit(self, trace: Trace) -> None:
        queue = self.queue
        if len(queue) >= self.max_queue_size or self.stopping:
            self.traces_dropped += 1
            self.spans_dropped += len(trace.spans)
            if self.stopping:
                # e.g. a stream object finalised after the exit flush already ran
                log_once(
                    "after-shutdown:" + self.name,
                    "tracekit: a trace ended after %s was shut down; it was not exported",
                    self.name,
                )
            else:
                log_once(
                    "queue-full:" + self.name,
                    "tracekit: export queue of %s is full (%d traces); dropping traces. Dropped "
                    "counts are in tracekit.stats(); raise max_queue_size or fix the exporter.",
                    self.name,
                    self.max_queue_size,
                )
            return
        queue.append(trace)
        self.submitted += 1
        if self.thread is None:
            self._start()
        elif len(queue) >= self.batch_size and not self.wake.is_set():
            self.wake.set()

    def _start(self) -> None:
        with self.progress:
            if self.thread is not None:
                return
            thread = threading.Thread(
                target=self._run, name=f"tracekit-export-{self.name}", daemon=True
            )
            self.thread = thread
        thread.start()

    # -- consumer side (the worker thread) ----------------------------------------------

    def _run(self) -> None:
        from ._tracer import SUPPRESSED

        SUPPRESSED.set(True)  # this thread's own context: nothing traced in here is exported
        queue = self.queue
        while True:
            # Wait for a full batch, the interval, a flush or the stop. Exporting whatever
            # trickles in as soon as it arrives would cost one write per few traces.
            if not self._drain_now():
                self.wake.wait(self.interval_s)
                self.wake.clear()
            while queue:
                # No local keeps the batch: idle, the worker holds no finished trace.
                self._export(self._take_batch())
                if not self._drain_now():
                    break
            if self.stopping and not queue:
                break
        self._close_exporter()

    def _take_batch(self) -> list[Trace]:
        queue, size = self.queue, self.batch_size
        batch: list[Trace] = []
        while queue and len(batch) < size:
            batch.append(queue.popleft())
        return batch

    def _drain_now(self) -> bool:
        return (
            len(self.queue) >= self.batch_size or self.stopping or self.flush_target > self.handled
        )

    def _export(self, batch: list[Trace]) -> None:
        spans = sum(len(t.spans) for t in batch)
        try:
            self.exporter.export(batch)
        except BaseException as exc:  # CancelledError, SystemExit...: the worker must go on
            self.traces_failed += len(batch)
            self.spans_failed += spans
            log_once(
                "export-failed:" + self.name,
                "tracekit: exporter %s failed (%s: %s); %d traces lost. The app is unaffected; "
                "failures are counted in tracekit.stats() and not logged again.",
                self.name,
                type(exc).__name__,
                exc,
                len(batch),
            )
        else:
            self.traces_exported += len(batch)
            self.spans_exported += spans
        finally:
            with self.progress:
                self.handled += len(batch)
                self.progress.notify_all()

    def _close_exporter(self) -> None:
        try:
            self.exporter.shutdown()
        except BaseException:
            log_once("shutdown-failed:" + self.name, "tracekit: %s.shutdown() failed", self.name)

    # -- control ------------------------------------------------------------------------

    def flush(self, deadline: float) -> bool:
        """Wait until everything queued so far is exported, then flush the exporter."""
        target = self.submitted
        if self.thread is None and not self.queue:
            return self._flush_exporter(deadline)
        self.flush_target = max(self.flush_target, target)
        self.wake.set()
        with self.progress:
            done = self.progress.wait_for(
                lambda: self.handled >= target, timeout=max(0.0, deadline - time.monotonic())
            )
        if not done:
            return False
        return self._flush_exporter(deadline)

    def _flush_exporter(self, deadline: float) -> bool:
        # On a helper thread: an exporter whose flush() hangs must not hold the app past the
        # deadline (the helper is a daemon; a hung one is left behind).
        result: list[bool] = []

        def run() -> None:
            try:
                result.append(bool(self.exporter.flush(max(0.0, deadline - time.monotonic()))))
            except BaseException:
                internal_error(f"{self.name}.flush")
                result.append(False)

        helper = threading.Thread(target=run, name=f"tracekit-flush-{self.name}", daemon=True)
        try:
            helper.start()
        except RuntimeError:  # no new threads at interpreter shutdown (3.12+): flush here
            run()
        else:
            # At least 10 ms: flush(timeout_s=0) still lets a flush that is instant finish.
            helper.join(max(0.01, deadline - time.monotonic()))
        if not result:
            log_once(
                "flush-hung:" + self.name,
                "tracekit: %s.flush() did not return in time; flush() gave up waiting",
                self.name,
            )
            return False
        return result[0]

    def stop(self) -> None:
        """Ask the worker to drain its queue, shut the exporter down and end."""
        self.stopping = True
        self.wake.set()
        if self.thread is None:
            # Even with nothing queued, shutdown() runs on the worker thread, so that a hung
            # exporter is given up after exit_timeout_s like any other.
            try:
                self._start()
            except RuntimeError:  # no new threads at interpreter shutdown (3.12+)
                self.thread = None
                self._close_exporter()

    def stats(self) -> dict[str, int]:
        return {
            "queued": len(self.queue),
            "traces_exported": self.traces_exported,
            "spans_exported": self.spans_exported,
            "traces_dropped": self.traces_dropped,
            "spans_dropped": self.spans_dropped,
            "traces_failed": self.traces_failed,
            "spans_failed": self.spans_failed,
        }


class ExportPipeline:
    """Fans finished traces out to one ExportWorker per exporter."""

    def __init__(
        self,
        exporters: Sequence[Exporter],
        *,
        max_queue_size: int,
        batch_size: int,
        interval_s: float,
        exit_timeout_s: float,
    ) -> None:
        self.exit_timeout_s = exit_timeout_s
        self.workers: list[ExportWorker] = []
        names: dict[str, int] = {}
        for exporter in exporters:
            base = type(exporter).__name__
            names[base] = names.get(base, 0) + 1
            name = base if names[base] == 1 else f"{base}#{names[base]}"
            self.workers.append(
                ExportWorker(
                    exporter,
                    name,
                    max_queue_size=max_queue_size,
                    batch_size=batch_size,
                    interval_s=interval_s,
                )
            )
        self.is_shut_down = False
        _live_pipelines.add(self)

    def submit(self, trace: Trace) -> None:
        for worker in self.workers:
            worker.submit(trace)

    def flush(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        ok = True
        for worker in self.workers:
            ok = worker.flush(deadline) and ok
        return ok

    def shutdown(self, timeout_s: float, keep: Sequence[Exporter] = ()) -> bool:
        """Drain and stop every worker; exporters in ``keep`` are not shut down."""
        if self.is_shut_down:
            return True
        self.is_shut_down = True
        kept = {id(e) for e in keep}
        for worker in self.workers:
            if id(worker.exporter) in kept:
                worker.exporter = _Detached(worker.exporter)
            worker.stop()
        return _wait_stopped(self.workers, timeout_s)

    def stats(self) -> dict[str, dict[str, int]]:
        return {w.name: w.stats() for w in self.workers}

    def after_fork_in_child(self) -> None:
        for worker in self.workers:
            worker.after_fork_in_child()


def _wait_stopped(workers: Sequence[ExportWorker], stall_timeout_s: float) -> bool:
    """Wait for the workers to end while they make progress.

    A worker is given up once no batch of it has completed for ``stall_timeout_s``: a dead
    collector or a hung exporter never holds the process longer than that, while a healthy
    exporter with a long queue is allowed to finish.
    """
    now = time.monotonic()
    pending = {w: (w.handled, now) for w in workers if w.thread is not None}
    ok = True
    while pending:
        for worker in list(pending):
            thread = worker.thread
            if thread is None or not thread.is_alive():
                del pending[worker]
                continue
            thread.join(0.01)
            now = time.monotonic()
            handled, since = pending[worker]
            if worker.handled != handled:
                pending[worker] = (worker.handled, now)
            elif now - since >= stall_timeout_s:
                del pending[worker]
                ok = False
                # Counts the batch stuck inside export() as well as what is still queued.
                logger.warning(
                    "tracekit: exporter %s made no progress for %.1f s; %d traces were not"
                    " exported",
                    worker.name,
                    stall_timeout_s,
                    worker.submitted - worker.handled,
                )
    return ok


class _Detached:
    """Stands in for an exporter that moved to a new pipeline: exports, but is not shut down."""

    def __init__(self, exporter: Exporter) -> None:
        self._exporter = exporter

    def export(self, traces: Sequence[Trace]) -> None:
        self._exporter.export(traces)

    def flush(self, timeout_s: float) -> bool:
        return self._exporter.flush(timeout_s)

    def shutdown(self) -> None:
        self._exporter.flush(1.0)


_live_pipelines: weakref.WeakSet[ExportPipeline] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for pipeline in list(_live_pipelines):
        pipeline.after_fork_in_child()
    # multiprocessing's forked children leave through os._exit(), which skips atexit, but run
    # its finalizers first. Its bootstrap clears finalizers registered before it starts, then
    # runs its after-fork hooks: register the exit flush from one of those.
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is not None:
        for pipeline in list(_live_pipelines)[:1]:
            mp_util.register_after_fork(pipeline, _flush_at_multiprocessing_exit)


def _flush_at_multiprocessing_exit(pipeline: ExportPipeline) -> None:
    mp_util = sys.modules["multiprocessing.util"]
    mp_util.Finalize(pipeline, _at_exit, exitpriority=10)


def _at_exit() -> None:
    from ._internal import state

    pipeline = state.pipeline
    if pipeline is not None:
        try:
            pipeline.shutdown(pipeline.exit_timeout_s)
        except Exception:
            logger.warning("tracekit: flushing at exit failed", exc_info=True)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_at_exit)


def stats_snapshot(pipeline: ExportPipeline | None) -> dict[str, Any]:
    from ._internal import state

    return {
        "enabled": state.enabled,
        "traces_sampled_out": state.sampled_out,
        "internal_errors": state.internal_errors,
        "redaction_failures": state.redaction_failures,
        "exporters": pipeline.stats() if pipeline is not None else {},
    }
