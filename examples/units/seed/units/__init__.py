"""Temperature conversions with the standard library only."""
