"""Rooms of messages: the broker seam (`seam`), its two implementations and their factory."""
