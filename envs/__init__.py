"""Environments: the SDK, the task format, the value-system catalog and the bundled suite."""
