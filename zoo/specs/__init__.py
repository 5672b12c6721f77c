"""One module per family: its ``MODELS`` entries and the variant tables both frameworks read."""
