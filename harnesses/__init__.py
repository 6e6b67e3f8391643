"""Harnesses: the agents under test, the model clients they use, and skills."""
