"""The run catalog: which runs happened, their outcome and report (SQLite default, PostgreSQL for teams)."""
