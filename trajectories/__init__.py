"""Trajectories: the episode record, the run journal and its index."""
