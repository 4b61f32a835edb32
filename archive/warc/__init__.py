"""WARC files: writing, reading, scanning and checking records (WARC 1.1), and their CDXJ index."""
