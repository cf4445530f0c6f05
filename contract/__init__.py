"""What the run side writes and the reader side reads, shared by both:
result ids and the results schema (names.py), exchange.json and its ladder drawing (ladder.py).
Imports nothing from harness/, reports/ or cli/."""
