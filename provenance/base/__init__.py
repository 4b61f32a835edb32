"""What every layer uses: time, ids, digests, the operator's home, failpoints, terminal escaping
and the readers of untrusted files."""
