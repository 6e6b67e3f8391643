"""valuegym."""
