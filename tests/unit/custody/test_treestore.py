"""provenance.custody.treestore: the on-disk Merkle tree agrees with the in-memory one (RFC
9162 roots of every range) and a truncated level is a ProofError, not a wrong root."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from provenance.custody import merkle
from provenance.custody.treestore import TreeStore
from provenance.errors import ProofError

LEAVES = [merkle.leaf_hash(b"entry %d" % i) for i in range(13)]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TreeStore]:
    tree = TreeStore(tmp_path / "tree")
    for number, leaf in enumerate(LEAVES):
        tree.append(leaf, number * 100)
    yield tree
    tree.close()


def test_roots_of_every_range_match_the_reference(store: TreeStore) -> None:
    assert len(store) == len(LEAVES)
    assert store.root() == merkle.root_of(LEAVES)
    for start in range(len(LEAVES)):
        for end in range(start + 1, len(LEAVES) + 1):
            assert store.range_root(start, end) == merkle.root_of(LEAVES[start:end])
    assert [store.offset(i) for i in (0, 5, 12)] == [0, 500, 1200]


def test_truncate_forgets_the_tail(store: TreeStore) -> None:
    store.truncate(5)
    assert len(store) == 5
    assert store.root() == merkle.root_of(LEAVES[:5])
    store.append(LEAVES[5], 500)
    assert store.root() == merkle.root_of(LEAVES[:6])


def test_a_damaged_level_is_a_proof_error(store: TreeStore, tmp_path: Path) -> None:
    level = tmp_path / "tree" / "level-00.bin"
    level.write_bytes(level.read_bytes()[:32])
    fresh = TreeStore(tmp_path / "tree")
    try:
        with pytest.raises(ProofError, match="lacks node"):
            fresh.range_root(3, 4)
    finally:
        fresh.close()
