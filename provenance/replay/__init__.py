"""Replaying captures in pywb, Webrecorder's Python wayback (``prov replay``): ``wayback``
builds pywb's indexes and config and runs it; ``child`` is the pywb process it starts."""
