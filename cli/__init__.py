"""The `./tcprepro` command line: a thin parser (main.py) and one module per subcommand.

The one place the run side (harness/) and the reader side (reports/) meet."""
