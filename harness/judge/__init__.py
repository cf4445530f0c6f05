"""Judging: the catalogue, a raw result judged into a results.json entry, the gate."""
