"""Recognizers by family; `classify.registry.RECOGNIZERS` lists them in priority order."""
