"""OpenLineage lineage: run events with column-level lineage, their delivery, and the lineage graph."""
