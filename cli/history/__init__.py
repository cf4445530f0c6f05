"""Results over time (`./tcprepro history`): a store of every result of every run added to it,
on SQLite or PostgreSQL, and the classes read from it (stable, flaky, changed, new)."""
