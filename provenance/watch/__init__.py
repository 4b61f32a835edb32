"""Watching sources: the schedule, its sources file, runs, and what changed between snapshots."""
