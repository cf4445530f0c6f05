"""tcprepro harness: runs case programs on a target, judges observations per kernel."""
