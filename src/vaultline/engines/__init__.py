"""Execution engines. Each engine lives in its own folder and is the only place its library is imported."""
