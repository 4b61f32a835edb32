"""Tests for provenance.custody.merkle against RFC 9162 section 2.1, a reference MTH, and
pymerkle."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence

import pymerkle
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archive.errors import ExitCode, IntegrityError
from provenance.custody.merkle import (
    EMPTY_ROOT,
    TreeBuilder,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from provenance.errors import ProofError

MAX = 64
DATA = [b"leaf %d" % i for i in range(MAX)]
LEAVES = [hashlib.sha256(b"\x00" + d).digest() for d in DATA]


def reference_mth(leaves: Sequence[bytes]) -> bytes:
    """MTH of RFC 9162 2.1.1, written as literally as possible."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    left, right = reference_mth(leaves[:k]), reference_mth(leaves[k:])
    return hashlib.sha256(b"\x01" + left + right).digest()


ROOTS = [reference_mth(LEAVES[:n]) for n in range(MAX + 1)]


def flip(value: bytes) -> bytes:
    return bytes([value[0] ^ 1]) + value[1:]


def assert_fails(check: Callable[[], object]) -> None:
    with pytest.raises(ProofError):
        check()


# -- hashing and roots -----------------------------------------------------------------------


def test_hash_primitives() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert (
        node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
    )
    assert root_of([]) == EMPTY_ROOT
    assert TreeBuilder().root() == EMPTY_ROOT


# The 8-leaf tree of the RFC 6962 reference implementation's test data (same tree as RFC 9162).
CT_DATA = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    bytes(range(0x50, 0x58)),
    bytes(range(0x60, 0x70)),
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_PROOFS = {
    ("inclusion", 0, 8): "96a296d2 5f083f0a 6b47aaf2",
    ("inclusion", 5, 8): "bc1a0643 ca854ea1 d37ee418",
    ("inclusion", 2, 3): "fac54203",
    ("consistency", 1, 8): "96a296d2 5f083f0a 6b47aaf2",
    ("consistency", 6, 8): "0ebc5d34 ca854ea1 d37ee418",
    ("consistency", 2, 5): "5f083f0a bc1a0643",
}


def test_known_vectors() -> None:
    leaves = [leaf_hash(d) for d in CT_DATA]
    assert [root_of(leaves[:n]).hex() for n in range(1, 9)] == CT_ROOTS
    for (kind, first, size), expected in CT_PROOFS.items():
        make = inclusion_proof if kind == "inclusion" else consistency_proof
        assert " ".join(h.hex()[:8] for h in make(first, leaves[:size])) == expected


@pytest.mark.parametrize("n", range(MAX + 1))
def test_root_of_matches_reference(n: int) -> None:
    assert root_of(LEAVES[:n]) == ROOTS[n]


def test_builder_matches_at_every_size() -> None:
    builder = TreeBuilder()
    for n in range(1, MAX + 1):
        builder.append(LEAVES[n - 1])
        assert builder.size == n
        assert builder.root() == ROOTS[n]


def test_builder_state_round_trip_continues() -> None:
    builder = TreeBuilder()
    for k in range(MAX + 1):
        state = json.loads(json.dumps(builder.to_state()))
        resumed = TreeBuilder.from_state(state)
        assert resumed.size == k and resumed.root() == ROOTS[k]
        for n in range(k + 1, MAX + 1):
            resumed.append(LEAVES[n - 1])
            assert resumed.root() == ROOTS[n]
        if k < MAX:
            builder.append(LEAVES[k])


def test_builder_memory_is_logarithmic() -> None:
    builder = TreeBuilder()
    for leaf in LEAVES[:63]:
        builder.append(leaf)
    assert len(builder.to_state()["subtrees"]) == 6  # type: ignore[arg-type]


GOOD_HEX = "ab" * 32


@pytest.mark.parametrize(
    "state",
    [
        {},
        {"subtrees": []},
        {"size": -1, "subtrees": []},
        {"size": True, "subtrees": [GOOD_HEX]},
        {"size": "1", "subtrees": [GOOD_HEX]},
        {"size": 1.0, "subtrees": [GOOD_HEX]},
        {"size": 1},
        {"size": 1, "subtrees": GOOD_HEX},
        {"size": 1, "subtrees": []},
        {"size": 3, "subtrees": [GOOD_HEX]},
        {"size": 1, "subtrees": [GOOD_HEX[:-2]]},
        {"size": 1, "subtrees": [GOOD_HEX.upper()]},
        {"size": 1, "subtrees": ["zz" * 32]},
        {"size": 1, "subtrees": [b"\xab" * 32]},
        {"size": 1, "subtrees": [None]},
    ],
)
def test_builder_rejects_malformed_state(state: dict[str, object]) -> None:
    assert_fails(lambda: TreeBuilder.from_state(state))


def test_builder_rejects_bad_leaf() -> None:
    with pytest.raises(ValueError):
        TreeBuilder().append(b"short")


def test_proof_error_is_an_integrity_failure() -> None:
    assert issubclass(ProofError, IntegrityError)
    assert ProofError("x").exit_code == ExitCode.INTEGRITY


# -- inclusion -------------------------------------------------------------------------------


def inclusion_cases() -> list[tuple[int, int]]:
    return [(n, i) for n in range(1, MAX + 1) for i in range(n)]


def inclusion_fails(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    with pytest.raises(ProofError):
        verify_inclusion(leaf, index, size, proof, root)


def test_every_inclusion_proof_verifies_and_tampering_fails() -> None:
    for n, i in inclusion_cases():
        check_inclusion_case(i, n)


def check_inclusion_case(i: int, n: int) -> None:
    leaf, root = LEAVES[i], ROOTS[n]
    proof = inclusion_proof(i, LEAVES[:n])
    verify_inclusion(leaf, i, n, proof, root)
    inclusion_fails(flip(leaf), i, n, proof, root)
    inclusion_fails(leaf, i, n, proof, flip(root))
    for j in (i - 1, i + 1, n, -1):
        inclusion_fails(leaf, j, n, proof, root)
    for m in range(i + 1, MAX + 1):
        if m != n:  # a different size, with that size's real root
            inclusion_fails(leaf, i, m, proof, ROOTS[m])
    for k in range(len(proof)):
        inclusion_fails(leaf, i, n, [*proof[:k], flip(proof[k]), *proof[k + 1 :]], root)
    for bad in (proof[:-1], proof[1:], [*proof, root], [root, *proof]):
        if bad != proof:
            inclusion_fails(leaf, i, n, bad, root)


def test_inclusion_errors_are_clear() -> None:
    proof = inclusion_proof(3, LEAVES[:10])
    with pytest.raises(ProofError, match=r"expected 4 proof hashes, found 3"):
        verify_inclusion(LEAVES[3], 3, 10, proof[:-1], ROOTS[10])
    with pytest.raises(ProofError, match=r"computed root [0-9a-f]{64}, expected"):
        verify_inclusion(LEAVES[4], 3, 10, proof, ROOTS[10])
    with pytest.raises(ProofError, match=r"proof hash 1: expected a 32-byte hash"):
        verify_inclusion(LEAVES[3], 3, 10, [proof[0], b"x", *proof[2:]], ROOTS[10])
    with pytest.raises(ProofError, match=r"index must be in"):
        verify_inclusion(LEAVES[3], 10, 10, proof, ROOTS[10])
    with pytest.raises(ProofError):
        verify_inclusion(LEAVES[0], 0, 0, [], EMPTY_ROOT)
    with pytest.raises(ProofError):
        verify_inclusion(LEAVES[3], 3, 10, proof, ROOTS[10][:31])


@pytest.mark.parametrize("index", [-1, 5, 6])
def test_inclusion_proof_rejects_bad_index(index: int) -> None:
    with pytest.raises(ValueError):
        inclusion_proof(index, LEAVES[:5])


# -- consistency -----------------------------------------------------------------------------


def test_every_consistency_proof_verifies_and_tampering_fails() -> None:
    for n in range(1, MAX + 1):
        for m in range(1, n + 1):
            check_consistency_case(m, n)


def consistency_fails(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    with pytest.raises(ProofError):
        verify_consistency(old_size, new_size, old_root, new_root, proof)


def check_consistency_case(m: int, n: int) -> None:
    old, new = ROOTS[m], ROOTS[n]
    proof = consistency_proof(m, LEAVES[:n])
    verify_consistency(m, n, old, new, proof)
    consistency_fails(m, n, flip(old), new, proof)
    consistency_fails(m, n, old, flip(new), proof)
    for k in range(len(proof)):
        consistency_fails(m, n, old, new, [*proof[:k], flip(proof[k]), *proof[k + 1 :]])
    for bad in (proof[:-1], proof[1:], [*proof, old], [new, *proof]):
        if bad != proof:
            consistency_fails(m, n, old, new, bad)
    for m2 in (m - 1, m + 1):  # another old size, with that size's real root
        if 0 < m2 <= MAX:
            consistency_fails(m2, n, ROOTS[m2], new, proof)
    for n2 in (n - 1, n + 1):
        if 0 < n2 <= MAX:
            consistency_fails(m, n2, old, ROOTS[n2], proof)
    if m != n:
        consistency_fails(n, m, new, old, proof)


def test_consistency_edge_cases() -> None:
    assert consistency_proof(0, LEAVES[:5]) == []
    assert consistency_proof(5, LEAVES[:5]) == []
    verify_consistency(0, 5, EMPTY_ROOT, ROOTS[5], [])
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(5, 5, ROOTS[5], ROOTS[5], [])
    assert_fails(lambda: verify_consistency(0, 5, ROOTS[1], ROOTS[5], []))
    assert_fails(lambda: verify_consistency(0, 5, EMPTY_ROOT, ROOTS[5], [LEAVES[0]]))
    assert_fails(lambda: verify_consistency(5, 5, ROOTS[5], ROOTS[4], []))
    assert_fails(lambda: verify_consistency(5, 5, ROOTS[5], ROOTS[5], [ROOTS[5]]))
    assert_fails(lambda: verify_consistency(6, 5, ROOTS[6], ROOTS[5], []))
    assert_fails(lambda: verify_consistency(-1, 5, EMPTY_ROOT, ROOTS[5], []))
    assert_fails(lambda: verify_consistency(3, 5, ROOTS[3], ROOTS[5], []))
    with pytest.raises(ProofError, match=r"computed new root [0-9a-f]{64}, expected"):
        verify_consistency(3, 5, ROOTS[3], ROOTS[4], consistency_proof(3, LEAVES[:5]))
    with pytest.raises(ProofError, match=r"computed old root"):
        verify_consistency(3, 5, ROOTS[2], ROOTS[5], consistency_proof(3, LEAVES[:5]))


@pytest.mark.parametrize("old_size", [-1, 6])
def test_consistency_proof_rejects_bad_size(old_size: int) -> None:
    with pytest.raises(ValueError):
        consistency_proof(old_size, LEAVES[:5])


# -- cross-check with pymerkle, an independent implementation ---------------------------------


@pytest.fixture(scope="module")
def pymerkle_tree() -> pymerkle.InmemoryTree:
    tree = pymerkle.InmemoryTree(algorithm="sha256")  # security (0x00/0x01 prefixes) on
    assert (tree.leaf_prefix, tree.node_prefix) == (b"\x00", b"\x01")
    for data in DATA:
        tree.append_entry(data)
    return tree


def test_pymerkle_roots_agree(pymerkle_tree: pymerkle.InmemoryTree) -> None:
    assert [pymerkle_tree.get_leaf(i + 1) for i in range(MAX)] == LEAVES
    for n in range(1, MAX + 1):
        assert pymerkle_tree.get_root(n) == root_of(LEAVES[:n]) == ROOTS[n]


def test_pymerkle_inclusion_agrees(pymerkle_tree: pymerkle.InmemoryTree) -> None:
    for n, i in inclusion_cases():
        theirs = pymerkle_tree.prove_inclusion(i + 1, n)  # pymerkle counts leaves from 1
        pymerkle.verify_inclusion(LEAVES[i], ROOTS[n], theirs, index=i + 1, size=n)
        assert theirs.path[1:] == inclusion_proof(i, LEAVES[:n])


def test_pymerkle_consistency_verifies_against_our_roots(
    pymerkle_tree: pymerkle.InmemoryTree,
) -> None:
    for n in range(1, MAX + 1):
        for m in range(1, n + 1):
            theirs = pymerkle_tree.prove_consistency(m, n)
            pymerkle.verify_consistency(ROOTS[m], ROOTS[n], theirs, prior_size=m, later_size=n)


# -- properties ------------------------------------------------------------------------------

leaf_lists = st.lists(st.binary(max_size=16), min_size=1, max_size=300)


@settings(max_examples=60, deadline=None)
@given(leaf_lists, st.data())
def test_property_inclusion(data: list[bytes], draw: st.DataObject) -> None:
    leaves = [leaf_hash(d) for d in data]
    index = draw.draw(st.integers(0, len(leaves) - 1))
    root = root_of(leaves)
    assert root == reference_mth(leaves)
    verify_inclusion(leaves[index], index, len(leaves), inclusion_proof(index, leaves), root)


@settings(max_examples=60, deadline=None)
@given(leaf_lists, st.data())
def test_property_consistency_and_builder(data: list[bytes], draw: st.DataObject) -> None:
    leaves = [leaf_hash(d) for d in data]
    old_size = draw.draw(st.integers(0, len(leaves)))
    builder = TreeBuilder()
    for leaf in leaves[:old_size]:
        builder.append(leaf)
    old_root = builder.root()
    resumed = TreeBuilder.from_state(json.loads(json.dumps(builder.to_state())))
    for leaf in leaves[old_size:]:
        resumed.append(leaf)
    assert resumed.root() == root_of(leaves)
    proof = consistency_proof(old_size, leaves)
    verify_consistency(old_size, len(leaves), old_root, resumed.root(), proof)


def test_verify_spooled_hashes_give_the_root_of_any_prefix() -> None:
    """verify keeps leaf hashes in a temporary file, not in memory; a prefix root read back from
    it (past the in-memory buffer, so the file is used) is the MTH of that prefix."""
    from provenance.verification.case import HashArray

    count = HashArray.BUFFER // 32 * 2 + 5
    leaves = [hashlib.sha256(b"%d" % i).digest() for i in range(count)]
    spool = HashArray()
    try:
        for leaf in leaves:
            spool.append(leaf)
        assert len(spool) == count
        for size in (0, 1, 7, HashArray.BUFFER // 32, HashArray.BUFFER // 32 + 1, count):
            assert spool.root_of_prefix(size) == root_of(leaves[:size]), size
        spool.append(leaves[0])  # appending after a read continues at the end
        assert spool.root_of_prefix(count + 1) == root_of([*leaves, leaves[0]])
    finally:
        spool.close()


@pytest.mark.parametrize("before", [0, 1, 5, 8])
def test_extend_is_append_one_by_one(before: int) -> None:
    leaves = [hashlib.sha256(b"leaf %d" % i).digest() for i in range(before + 37)]
    one, many = TreeBuilder(), TreeBuilder()
    for leaf in leaves[:before]:
        one.append(leaf)
        many.append(leaf)
    for leaf in leaves[before:]:
        one.append(leaf)
    many.extend(b"".join(leaves[before:]))
    assert (many.size, many.root()) == (one.size, one.root())
    with pytest.raises(ValueError):
        many.extend(b"x" * 33)
