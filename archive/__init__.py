"""Capture and WARC I/O: recording HTTP exchanges exactly as sent and received.

This package knows nothing about keys, signatures or custody; ``provenance`` builds on it.
"""
