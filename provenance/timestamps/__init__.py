"""Trusted timestamps: RFC 3161 requests and tokens, CMS, and which TSAs are trusted."""
