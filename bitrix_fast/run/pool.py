"""The worker threads requests are sent from.

Like ``concurrent.futures.ThreadPoolExecutor`` (it hands out the same ``Future``), with one
difference that matters when a script is stopped: its threads are daemons. The standard pool
joins its threads at interpreter exit, so a Ctrl+C with fifty requests on the wire of a portal
whose batches take seconds kept the process alive for those seconds; here the process ends
at once, and a request still on the wire is simply abandoned (the stop context has already
made sure nothing new is sent, and the caller has recorded what is in doubt).

Threads start on demand, up to ``max_workers``, and stay until :meth:`WorkerPool.shutdown`.
"""
from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from typing import Any, Callable, Dict, List, Optional, Set, Tuple, TypeVar

T = TypeVar("T")

_Job = Tuple["Future[Any]", Callable[..., Any], Tuple[Any, ...]]


class WorkerPool:
    """Runs submitted calls on up to ``max_workers`` daemon threads (see the module docs)."""

    def __init__(self, max_workers: int, *, name: str = "bitrix_fast") -> None:
        if isinstance(max_workers, bool) or int(max_workers) != max_workers or max_workers < 1:
            raise ValueError(f"max_workers must be a whole number >= 1, not {max_workers!r}")
        self._max = int(max_workers)
        self._name = name
        self._jobs: "queue.SimpleQueue[Optional[_Job]]" = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: List[threading.Thread] = []
        self._idle = 0
        self._closed = False
        #: the job each thread is running, and the jobs nobody waits for any more
        self._running: Dict[threading.Thread, "Future[Any]"] = {}
        self._detached: Set["Future[Any]"] = set()

    def submit(self, fn: Callable[..., T], *args: Any) -> "Future[T]":
        """Run ``fn(*args)`` on a worker thread; RuntimeError once the pool is shut down."""
        future: "Future[T]" = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the worker pool is shut down")
            self._jobs.put((future, fn, args))
            if self._idle > 0:
                self._idle -= 1
            elif len(self._threads) < self._max:
                thread = threading.Thread(target=self._work, daemon=True,
                                          name=f"{self._name}-{len(self._threads)}")
                self._threads.append(thread)
                thread.start()
        return future

    def shutdown(self, *, wait: bool = False) -> None:
        """Take no more work, cancel what has not started, and let the threads end (after
        their current request when ``wait``, unless it was :meth:`detach`-ed; otherwise they
        are not waited for)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            threads = list(self._threads)
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job[0].cancel()
        for _ in threads:
            self._jobs.put(None)
        if wait:
            for thread in threads:
                with self._lock:
                    detached = self._running.get(thread) in self._detached
                if not detached:
                    thread.join()

    def detach(self, future: "Future[Any]") -> None:
        """Nobody waits for ``future`` any more (a read whose answer is no longer needed):
        :meth:`shutdown` does not wait for the thread running it."""
        with self._lock:
            if not future.done():
                self._detached.add(future)

    @property
    def max_workers(self) -> int:
        return self._max

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            future, fn, args = job
            with self._lock:
                self._running[threading.current_thread()] = future
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args)
                except BaseException as error:  # handed to whoever waits on the future
                    future.set_exception(error)
                else:
                    future.set_result(result)
            with self._lock:
                self._running.pop(threading.current_thread(), None)
                self._detached.discard(future)
                if self._closed:
                    continue
                self._idle += 1
