"""Where bytes live: local paths and s3:// URLs behind one small interface (fsspec underneath)."""
