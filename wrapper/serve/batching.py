"""Dynamic batching: concurrent requests wait a few milliseconds and share one model call.

`Batcher.submit(query, docs)` is awaited by each request handler. One worker task takes
the first waiting job, then keeps collecting jobs until `max_batch_pairs` pairs are
gathered or `max_wait_ms` has passed, and scores them all with one `score(jobs)` call
in a worker thread (the event loop keeps accepting requests meanwhile). Under load the
model sees large batches, close to one big `predict`; a lone request waits at most
`max_wait_ms`.
"""

from __future__ import annotations

import asyncio
from typing import Callable

Job = tuple[str, list[str]]


class Batcher:
    def __init__(self, score: Callable[[list[Job]], list[list[float]]], *, max_batch_pairs: int = 256,
                 max_wait_ms: float = 5.0):
        self._score = score
        self.max_batch_pairs = max_batch_pairs
        self.max_wait = max_wait_ms / 1000.0
        self._queue: asyncio.Queue | None = None
        self._worker: asyncio.Task | None = None
        self.calls = 0  # model calls made (for tests and the bench)
        self.jobs = 0

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass

    async def submit(self, query: str, docs: list[str]) -> list[float]:
        if self._queue is None:
            await self.start()
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(((query, docs), future))
        return await future

    async def _collect(self) -> list:
        first = await self._queue.get()
        batch, pairs = [first], len(first[0][1])
        deadline = asyncio.get_running_loop().time() + self.max_wait
        while pairs < self.max_batch_pairs:
            left = deadline - asyncio.get_running_loop().time()
            try:
                item = self._queue.get_nowait() if left <= 0 else await asyncio.wait_for(self._queue.get(), left)
            except (asyncio.QueueEmpty, asyncio.TimeoutError):
                break
            batch.append(item)
            pairs += len(item[0][1])
        return batch

    async def _run(self) -> None:
        while True:
            batch = await self._collect()
            batch = [(job, fut) for job, fut in batch if not fut.done()]  # a client that gave up
            if not batch:
                continue
            try:
                scores = await asyncio.to_thread(self._score, [job for job, _ in batch])
            except Exception as exc:  # one bad batch must not stop the worker
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            self.calls += 1
            self.jobs += len(batch)
            for (_, fut), result in zip(batch, scores):
                if not fut.done():
                    fut.set_result(result)
