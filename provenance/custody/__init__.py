"""The case and its chain of custody: the signed append-only log, its Merkle tree, checkpoints,
proofs and stamping."""
