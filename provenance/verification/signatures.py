"""The Ed25519 signatures of a custody log, checked on every core while the log is replayed.

Spec: docs/DESIGN.md, "Trust", and ``provenance.signing.entryjudge``: each entry must be signed
by a key trusted at its ``seq``. The replay stays serial and in log order (which key is
trusted where depends on the entries before); only the arithmetic of each signature, (key,
signature, message), goes to worker processes, in batches.

Threat (docs/SECURITY.md): a worker must never turn a bad signature into a pass. The replay
runs as if every deferred signature verifies, which is what it would do if they all did;
``all_valid`` is True only when every one was checked and verified. Anything else (a signature
that does not verify, a batch that raised, a worker that died) tells the caller to judge the
log again with each signature checked in place, so the report is exactly the serial one.
Memory stays flat: at most ``WINDOW`` batches per worker are in flight.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future

from provenance.signing.keys import PublicKey, verify_batch
from provenance.verification.parallel import process_pool

BATCH = 2000  # signatures per task: about 1.5 MB of messages, 0.1 s of a worker's time
WINDOW = 2  # batches per worker in flight


class DeferredSignatures:
    """Signatures handed on by ``add``, checked by ``workers`` processes."""

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._pool = process_pool(workers)
        self._batch: list[tuple[bytes, bytes, bytes]] = []
        self._inflight: deque[Future[list[int]]] = deque()
        self.ok = True  # False once one did not verify or could not be checked

    def add(self, key: PublicKey, signature: bytes, message: bytes) -> None:
        self._batch.append((key.raw, signature, message))
        if len(self._batch) >= BATCH:
            self._send()

    def _send(self) -> None:
        while len(self._inflight) >= WINDOW * self._workers:
            self._take()
        if self.ok:  # once one failed, the log is judged again: nothing more to check
            self._inflight.append(self._pool.submit(verify_batch, self._batch))
        self._batch = []

    def _take(self) -> None:
        future = self._inflight.popleft()
        try:
            bad = future.result()
        except Exception:  # a worker died or a batch raised: unchecked is never valid
            bad = [-1]
        if bad:
            self.ok = False

    def all_valid(self) -> bool:
        """Wait for every signature added: True only if each was checked and verified."""
        if self._batch:
            self._send()
        while self._inflight:
            self._take()
        return self.ok

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
