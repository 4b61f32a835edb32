"""Verifying cases, packages and WARC files: the judges, the report and the verifier's memory."""
