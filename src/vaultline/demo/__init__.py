"""Demo datasets: fake, deterministic, fast, with known dirt and known anomalies.

- `vaultline.demo.healthplus.generate_healthplus(rows, out_dir, seed=7)`: patient admissions with
  direct identifiers (names, SSN, MRN, email, phone, address), dates of birth (some 90+), ZIP codes
  (some in restricted ZIP3 areas, some ZIP+4), ICD-10-CM codes, valid NPIs and billed amounts
  (`OUT/raw/patients.csv`), for the `healthplus` example.
- `vaultline.demo.fraud.generate_fraud(rows, out_dir, seed=11)`: card transactions in time order with
  customer ids and account numbers that keep leading zeros, Luhn-valid card numbers, IPs, device ids,
  long-tailed amounts, MCCs and about 0.8% injected anomalies (`OUT/raw/transactions.csv`), for the
  `fraud` example.

Both return a `GeneratedDataset` (data_path, labels_path, rows, dirty_rows, sensitive_columns,
anomaly_rows) and write their ground truth to `OUT/labels/<name>_labels.csv`, which no pipeline reads.
Each module's docstring lists its columns and formats.

Everything is fake: names and places are drawn from Faker's en_US word lists, email domains are the
reserved example.com/.net/.org, phone numbers are in the fictional 555-01xx range. The CSVs have a
header, `,` delimiters, `\\n` line ends and quotes only where a field needs them.

Determinism and scale: the same (rows, seed) gives byte-identical files (with the same Faker version,
whose lists feed the pools), whatever `chunk_rows` (keyword argument: rows appended per write, default
500,000). Faker only fills small pools once per seed; rows are drawn from the pools and built with
NumPy and Polars in blocks of 65,536 rows, each from its own seeded random stream, and appended to the
file chunk by chunk, so memory stays bounded whatever the row count.

Dirty rows, so that `clean` and the CSV reader have something to quarantine. From 100 rows up, each
kind below gets 0.1% of the rows (at least one), and every file gets two ragged lines:

- `bad_date`: a date that does not parse (`2026-13-45`, `not-a-date`, `2023-02-30`, `31/12/2023`,
  `2024-00-10`; with a time of day for timestamps);
- `negative_amount`: a negative billed_amount / amount;
- `malformed_email`: `local@`, `local at domain`, `local@@domain` or `local@domain-without-dot`;
- `duplicate`: an exact copy of the previous row (same patient_id and admission_date / same
  transaction_id). It takes the place of a row: duplicates do not add rows, and `rows` is always the
  number of data records in the file;
- `ragged_line`: a line with one extra field, from a comma written without quotes (a billed_amount of
  `12,345.67`, a merchant_name `..., Online`).

A row is dirty in at most one way, the row a duplicate copies is clean, and fraud anomalies are never
dirty. Smaller datasets (under 100 rows) are clean. The labels files give each dirty row's 0-based
record number (`row`, the engine's row id), its reason and the column it breaks.
"""
