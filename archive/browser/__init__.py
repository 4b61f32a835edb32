"""Browser capture: Chromium behind the recording proxy, one page at a time."""
