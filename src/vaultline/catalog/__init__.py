"""The run catalog: which runs happened, with what outcome and report (SQLite by default, PostgreSQL for teams)."""
