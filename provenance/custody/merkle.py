"""Merkle trees as RFC 9162 section 2.1 defines them (the tree of Certificate Transparency).

A leaf hashes as ``sha256(0x00 || data)`` and an interior node as
``sha256(0x01 || left || right)``; a tree of ``n > 1`` leaves splits at ``k``, the largest
power of two smaller than ``n`` (2.1.1). Inclusion proofs are PATH (2.1.3.1) and
consistency proofs SUBPROOF (2.1.4.1); they are checked with the verification
algorithms of 2.1.3.2 and 2.1.4.2. Every function here takes leaf *hashes*, never leaf data.

Proof generation raises ``ValueError`` for arguments no caller should pass; verification
raises ``ProofError`` saying what was checked, what was expected and what was found.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Protocol

from provenance.errors import ProofError

HASH_SIZE = 32
EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """The hash of one leaf: ``sha256(0x00 || data)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node: ``sha256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n > 1``)."""
    return 1 << ((n - 1).bit_length() - 1)


class TreeBuilder:
    """An append-only tree that keeps only the roots of its maximal perfect subtrees.

    Memory is O(log n): one hash per set bit of ``size``, largest subtree first.
    """

    def __init__(self) -> None:
        self._size = 0
        self._subtrees: list[bytes] = []

    @property
    def size(self) -> int:
        """The number of leaves appended so far."""
        return self._size

    def append(self, leaf_hash: bytes) -> None:
        """Add one leaf (its hash) at the right edge of the tree."""
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"leaf hash must be {HASH_SIZE} bytes, got {len(leaf_hash)}")
        merged, n = bytes(leaf_hash), self._size
        while n & 1:
            merged = node_hash(self._subtrees.pop(), merged)
            n >>= 1
        self._subtrees.append(merged)
        self._size += 1

    def extend(self, hashes: bytes) -> None:
        """Append the leaves whose hashes ``hashes`` holds, 32 bytes each, as ``append`` does
        one by one (one call for a file's records: verify's serial part)."""
        if len(hashes) % HASH_SIZE:
            raise ValueError(f"leaf hashes must be {HASH_SIZE} bytes each, got {len(hashes)}")
        subtrees, n, sha256 = self._subtrees, self._size, hashlib.sha256
        pop, push = subtrees.pop, subtrees.append
        for i in range(0, len(hashes), HASH_SIZE):
            merged, bits = hashes[i : i + HASH_SIZE], n
            while bits & 1:
                merged = sha256(b"\x01" + pop() + merged).digest()
                bits >>= 1
            push(merged)
            n += 1
        self._size = n

    def root(self) -> bytes:
        """MTH over all leaves so far; ``EMPTY_ROOT`` for an empty tree."""
        if not self._subtrees:
            return EMPTY_ROOT
        result = self._subtrees[-1]
        for subtree in reversed(self._subtrees[:-1]):
            result = node_hash(subtree, result)
        return result

    def to_state(self) -> dict[str, object]:
        """A JSON-able snapshot (size and subtree roots in hex) to resume from later."""
        return {"size": self._size, "subtrees": [h.hex() for h in self._subtrees]}

    @classmethod
    def from_state(cls, state: Mapping[str, object]) -> TreeBuilder:
        """Resume from :meth:`to_state` output; raise ``ProofError`` if it is malformed.

        A state is an unsigned cache: compare the resumed root with a signed checkpoint.
        """
        size, subtrees = state.get("size"), state.get("subtrees")
        if type(size) is not int or size < 0:
            raise ProofError(f"tree state: size must be a non-negative integer, found {size!r}")
        if not isinstance(subtrees, list) or len(subtrees) != size.bit_count():
            raise ProofError(
                f"tree state: expected a list of {size.bit_count()} subtree hashes for "
                f"size {size}, found {subtrees!r:.200}"
            )
        builder = cls()
        builder._size = size
        builder._subtrees = [_hex_hash(item) for item in subtrees]
        return builder


def _hex_hash(item: object) -> bytes:
    if not isinstance(item, str) or len(item) != 2 * HASH_SIZE or item.lower() != item:
        raise ProofError(f"tree state: expected 64 lowercase hex digits, found {item!r:.80}")
    try:
        return bytes.fromhex(item)
    except ValueError:
        raise ProofError(f"tree state: not hex: {item!r}") from None


class Leaves(Protocol):
    """What proof generation needs: the tree size and MTH over any range of leaves.

    A plain sequence of leaf hashes serves (O(n) per range); ``provenance.custody.treestore``
    answers from stored levels in O(log n) reads for large logs.
    """

    def __len__(self) -> int: ...

    def range_root(self, start: int, end: int) -> bytes: ...


class Prefix:
    """The first ``size`` leaves of a larger tree (a checkpoint's view of a longer log)."""

    def __init__(self, tree: Leaves, size: int) -> None:
        self._tree, self._size = tree, size

    def __len__(self) -> int:
        return self._size

    def range_root(self, start: int, end: int) -> bytes:
        return self._tree.range_root(start, end)


class _ListLeaves:
    def __init__(self, hashes: Sequence[bytes]) -> None:
        self._hashes = hashes

    def __len__(self) -> int:
        return len(self._hashes)

    def range_root(self, start: int, end: int) -> bytes:
        builder = TreeBuilder()
        for index in range(start, end):
            builder.append(self._hashes[index])
        return builder.root()


def _leaves(leaf_hashes: Sequence[bytes] | Leaves) -> Leaves:
    if isinstance(leaf_hashes, Sequence):
        return _ListLeaves(leaf_hashes)
    return leaf_hashes


def _range_root(leaves: Leaves, start: int, end: int) -> bytes:
    return leaves.range_root(start, end)


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH (RFC 9162 2.1.1) over already-hashed leaves; ``EMPTY_ROOT`` for none."""
    return _ListLeaves(leaf_hashes).range_root(0, len(leaf_hashes))


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes] | Leaves) -> list[bytes]:
    """PATH(index, D_n) of RFC 9162 2.1.3.1, where ``n = len(leaf_hashes)``."""
    leaves = _leaves(leaf_hashes)
    size = len(leaves)
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    siblings: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        mid = start + _split(end - start)
        if index < mid:
            siblings.append(_range_root(leaves, mid, end))
            end = mid
        else:
            siblings.append(_range_root(leaves, start, mid))
            start = mid
    return siblings[::-1]


def consistency_proof(old_size: int, leaf_hashes: Sequence[bytes] | Leaves) -> list[bytes]:
    """PROOF(old_size, D_n) of RFC 9162 2.1.4.1 (SUBPROOF), where ``n = len(leaf_hashes)``.

    Empty when ``old_size`` is 0 or ``n``: those need no proof.
    """
    leaves = _leaves(leaf_hashes)
    size = len(leaves)
    if not 0 <= old_size <= size:
        raise ValueError(f"old size {old_size} is outside 0..{size}")
    if old_size in (0, size):
        return []
    siblings: list[bytes] = []
    start, end, m, whole = 0, size, old_size, True
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            siblings.append(_range_root(leaves, start + k, end))
            end = start + k
        else:
            siblings.append(_range_root(leaves, start, start + k))
            start, m, whole = start + k, m - k, False
    head = [] if whole else [_range_root(leaves, start, end)]
    return head + siblings[::-1]


def _inclusion_length(index: int, size: int) -> int:
    length = 0
    while size > 1:
        k = _split(size)
        index, size = (index, k) if index < k else (index - k, size - k)
        length += 1
    return length


def _consistency_length(old_size: int, size: int) -> int:
    length, whole = 0, True
    while old_size != size:
        k = _split(size)
        old_size, size, whole = (
            (old_size, k, whole) if old_size <= k else (old_size - k, size - k, False)
        )
        length += 1
    return length + (0 if whole else 1)


def _check_hash(what: str, value: object) -> None:
    if not isinstance(value, bytes | bytearray | memoryview) or len(value) != HASH_SIZE:
        raise ProofError(f"{what}: expected a {HASH_SIZE}-byte hash, found {value!r:.80}")


def _check_hashes(proof: Sequence[bytes], expected: int, what: str) -> None:
    if len(proof) != expected:
        raise ProofError(f"{what}: expected {expected} proof hashes, found {len(proof)}")
    for position, value in enumerate(proof):
        _check_hash(f"{what}: proof hash {position}", value)


def _same(computed: bytes, given: bytes) -> bool:
    return hmac.compare_digest(computed, bytes(given))


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` with ``root``.

    The algorithm of RFC 9162 2.1.3.2; raises ``ProofError`` unless the proof holds.
    ``size`` is bound to ``root`` only by whoever signed them together (a checkpoint):
    trees whose paths to the leaf have the same shape accept the same proof.
    """
    what = f"inclusion of leaf {index} in tree of size {size}"
    if type(index) is not int or type(size) is not int or not 0 <= index < size:
        raise ProofError(f"{what}: index must be in 0..size-1")
    _check_hash(f"{what}: leaf hash", leaf_hash)
    _check_hash(f"{what}: root", root)
    _check_hashes(proof, _inclusion_length(index, size), what)
    fn, sn, r = index, size - 1, bytes(leaf_hash)
    for p in proof:
        if sn == 0:
            raise ProofError(f"{what}: proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError(f"{what}: proof is shorter than the path to the root")
    if not _same(r, root):
        raise ProofError(f"{what}: computed root {r.hex()}, expected {bytes(root).hex()}")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of ``new_size`` (``new_root``) extends that of ``old_size``.

    The algorithm of RFC 9162 2.1.4.2; equal sizes need equal roots and an empty proof,
    and an empty old tree (root ``EMPTY_ROOT``) is consistent with any tree. Raises
    ``ProofError`` unless the proof holds.
    """
    what = f"consistency of tree size {old_size} with size {new_size}"
    if type(old_size) is not int or type(new_size) is not int or not 0 <= old_size <= new_size:
        raise ProofError(f"{what}: sizes must satisfy 0 <= old size <= new size")
    _check_hash(f"{what}: old root", old_root)
    _check_hash(f"{what}: new root", new_root)
    if old_size == 0:
        _check_hashes(proof, 0, what)
        if not _same(EMPTY_ROOT, old_root):
            raise ProofError(f"{what}: old root {bytes(old_root).hex()} is not the empty root")
        return
    if old_size == new_size:
        _check_hashes(proof, 0, what)
        if not _same(bytes(old_root), new_root):
            raise ProofError(f"{what}: roots differ for the same size")
        return
    _check_hashes(proof, _consistency_length(old_size, new_size), what)
    old_found, new_found = _consistency_roots(old_size, new_size, old_root, proof, what)
    if not _same(old_found, old_root):
        raise ProofError(
            f"{what}: computed old root {old_found.hex()}, expected {bytes(old_root).hex()}"
        )
    if not _same(new_found, new_root):
        raise ProofError(
            f"{what}: computed new root {new_found.hex()}, expected {bytes(new_root).hex()}"
        )


def _consistency_roots(
    old_size: int, new_size: int, old_root: bytes, proof: Sequence[bytes], what: str
) -> tuple[bytes, bytes]:
    """Steps 2-6 of RFC 9162 2.1.4.2: the old and new roots the proof implies."""
    path = [bytes(p) for p in proof]
    if old_size & (old_size - 1) == 0:
        path.insert(0, bytes(old_root))
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError(f"{what}: proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError(f"{what}: proof is shorter than the path to the root")
    return fr, sr
