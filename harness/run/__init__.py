"""Running case programs: discovery, configurations, scheduling, processes, progress."""
