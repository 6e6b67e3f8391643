"""Judges: turn trajectories into rubric scores, and scores into value reports."""
