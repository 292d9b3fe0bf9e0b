"""A tiny invoicing library (the audit example)."""
