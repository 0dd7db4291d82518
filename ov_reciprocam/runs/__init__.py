"""Runs: explain and eval driven in this process or on Ray; photos read, inference and quality called, and what
comes back handed to output."""
