"""Kernels: the running one, Debian's and local ones fetched into the cache, built ones."""
