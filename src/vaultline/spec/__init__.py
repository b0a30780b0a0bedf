"""The pipeline spec: typed models, the YAML loader with line-aware errors, and lint rules."""
