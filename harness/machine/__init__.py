"""What this machine can do: the preflight of a run and `doctor`."""
