"""Side effects, grouped by the resource they touch. Every write is keyed, so a retry writes once."""
