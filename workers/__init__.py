"""The RQ face: job functions and the worker and scheduler entry points; thin, they call the core."""
