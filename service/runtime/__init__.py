"""Plumbing, not domain: the `make run` supervisor, the embedded Redis, and the one door to the job queue (RQ)."""
