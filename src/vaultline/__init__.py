"""Vaultline: declarative, secure-by-construction ETL pipelines for sensitive data."""

__version__ = "0.1.0"
