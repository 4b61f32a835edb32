"""A case in an S3 bucket: the store, the lease, the mirror, push, pull, copy and verify."""
