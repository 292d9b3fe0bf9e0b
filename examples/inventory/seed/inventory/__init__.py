"""A small inventory library: items, stock, pricing, CSV files, reports and a CLI."""
