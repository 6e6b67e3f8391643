"""The web viewer of run folders: `valuegym view` (see `app.py` for how the pages are built)."""
