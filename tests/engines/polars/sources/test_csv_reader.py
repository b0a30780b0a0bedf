"""CSV sources: typed and inferred schemas, ragged rows and bad values quarantined, encodings, and blocks
cut into pieces parsed in parallel."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import hashlib
import io
import itertools
import random
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from reading import collect, source, write

from vaultline.engines.polars.base import REASON, ROW_ID
from vaultline.engines.polars.sources import RAW, _csv_quotes, csv_cuts, csv_reader, input_files, read_source
from vaultline.errors import SourceError

CUSTOMERS = (
    "id,name,amount,qty,joined,seen,active,price\n"
    "007,Ann,1.50,3,2020-01-02,2020-01-02T03:04:05,true,10.25\n"
    '0042,"Smith, J",-2,0,2021-12-31,2021-12-31 23:59:59.5,FALSE,0.1\n'
    "100,Zoé,,,,,,\n"
)
TYPED = {
    "amount": "float64",
    "qty": "int64",
    "joined": "date",
    "seen": "datetime",
    "active": "bool",
    "price": "decimal",
}


# ------------------------------------------------------------------------------------------- CSV


def test_csv_typed_schema_keeps_identifiers_as_text(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", CUSTOMERS)
    frame, quarantine = collect(read_source("c", source(format="csv", path=path, schema=TYPED)))
    assert quarantine.height == 0
    assert frame.schema == pl.Schema(
        {
            "id": pl.String,
            "name": pl.String,
            "amount": pl.Float64,
            "qty": pl.Int64,
            "joined": pl.Date,
            "seen": pl.Datetime("us"),
            "active": pl.Boolean,
            "price": pl.Decimal(38, 9),
            ROW_ID: pl.UInt64,
        }
    )
    assert frame["id"].to_list() == ["007", "0042", "100"]
    assert frame["name"].to_list() == ["Ann", "Smith, J", "Zoé"]
    assert frame["amount"].to_list() == [1.5, -2.0, None]
    assert frame["qty"].to_list() == [3, 0, None]
    assert frame["joined"].to_list() == [dt.date(2020, 1, 2), dt.date(2021, 12, 31), None]
    assert frame["seen"].to_list() == [
        dt.datetime(2020, 1, 2, 3, 4, 5),
        dt.datetime(2021, 12, 31, 23, 59, 59, 500000),
        None,
    ]
    assert frame["active"].to_list() == [True, False, None]
    assert frame["price"].to_list() == [decimal.Decimal("10.25"), decimal.Decimal("0.1"), None]
    assert frame[ROW_ID].to_list() == [0, 1, 2]


def test_csv_without_schema_reads_every_column_as_text(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", CUSTOMERS)
    ingest = read_source("c", source(format="csv", path=path))
    frame, quarantine = collect(ingest)
    assert all(dtype == pl.String for name, dtype in frame.schema.items() if name != ROW_ID)
    assert frame["qty"].to_list() == ["3", "0", None]
    assert quarantine.height == 0
    assert ingest.stable_order  # fingerprinted files: a second read gives the same rows in order


def test_csv_ragged_rows_are_quarantined_with_reason_raw_text_and_row_id(tmp_path: Path) -> None:
    text = (
        "id,name,amount\n"
        "1,a,1.0\n"
        "2,b\n"  # too few fields
        "3,c,3.0\n"
        "\n"  # blank lines are not records
        "4,d,4.0,extra\n"  # too many
        '5,"multi\nline",5.0\n'  # a quoted newline is part of the value
        "6,f,6.0"  # no final newline
    )
    path = write(tmp_path / "r.csv", text)
    frame, quarantine = collect(
        read_source("r", source(format="csv", path=path, schema={"amount": "float64"}))
    )
    assert frame[ROW_ID].to_list() == [0, 2, 4, 5]
    assert frame["id"].to_list() == ["1", "3", "5", "6"]
    assert frame["name"].to_list()[2] == "multi\nline"
    assert quarantine[ROW_ID].to_list() == [1, 3]
    assert quarantine[REASON].to_list() == ["csv:expected 3 fields, got 2", "csv:expected 3 fields, got 4"]
    assert quarantine[RAW].to_list() == ["2,b", "4,d,4.0,extra"]
    assert quarantine["id"].to_list() == [None, None]  # an unsplittable row keeps only its raw line


def test_csv_values_that_do_not_convert_are_quarantined_with_their_text(tmp_path: Path) -> None:
    text = (
        "id,amount,day,flag\n"
        "1,10,2020-01-01,yes\n"
        "2,ten,2020-01-02,no\n"
        "3,30,2020-02-30,no\n"
        "4,40,2020-01-04,maybe\n"
        "5, 50 ,2020-01-05,1\n"
        "6,1.5,,\n"
        "7,70,24-01-31,no\n"
    )
    path = write(tmp_path / "t.csv", text)
    schema = {"amount": "int64", "day": "date", "flag": "bool"}
    frame, quarantine = collect(read_source("t", source(format="csv", path=path, schema=schema)))
    assert frame[ROW_ID].to_list() == [0, 4]
    assert frame["amount"].to_list() == [10, 50]
    assert frame["flag"].to_list() == [True, True]
    assert quarantine[ROW_ID].to_list() == [1, 2, 3, 5, 6]
    assert quarantine[REASON].to_list() == ["type:amount", "type:day", "type:flag", "type:amount", "type:day"]
    assert quarantine[RAW].to_list() == ["ten", "2020-02-30", "maybe", "1.5", "24-01-31"]
    # the whole row is kept as read, nothing is lost
    assert quarantine.select("id", "amount", "day", "flag").row(0) == ("2", "ten", "2020-01-02", "no")


def test_csv_text_after_a_closing_quote_is_quarantined_not_read_without_its_quotes(tmp_path: Path) -> None:
    text = (
        "id,name,note\n"
        '1,"be"ta,x\n'  # pyarrow alone would read beta
        '2,"Smith, J" ,x\n'  # a space after the closing quote
        '3,be"ta,x\n'  # a quote inside an unquoted field is a character of it
        '4,"say ""hi""",x\n'  # doubled quotes inside a quoted field
        '5,"a\n"b,x\n'  # text after a quoted line break
        '6,"""",x\n'
    )
    path = write(tmp_path / "q.csv", text)
    frame, quarantine = collect(read_source("q", source(format="csv", path=path)))
    assert frame[ROW_ID].to_list() == [2, 3, 5]
    assert frame["name"].to_list() == ['be"ta', 'say "hi"', '"']
    assert quarantine[ROW_ID].to_list() == [0, 1, 4]
    assert set(quarantine[REASON].to_list()) == {"csv:text after a closing quote"}
    assert quarantine[RAW].to_list() == ['1,"be"ta,x', '2,"Smith, J" ,x', '5,"a\n"b,x']


def test_csv_quoted_field_still_open_at_the_end_is_quarantined(tmp_path: Path) -> None:
    # pyarrow alone reads the last record as ("2", "b", "x\n")
    path = write(tmp_path / "o.csv", 'id,name,note\n1,a,x\n2,b,"x\n')
    frame, quarantine = collect(read_source("o", source(format="csv", path=path)))
    assert frame["id"].to_list() == ["1"]
    assert quarantine.select(ROW_ID, REASON, RAW).rows() == [(1, "csv:quoted field not closed", '2,b,"x\n')]


@pytest.mark.parametrize("rows", [3, 4])
def test_malformed_quotes_are_found_where_python_csv_strict_refuses_the_record(rows: int) -> None:
    """The walk agrees, record by record, with an independent parser: Python's csv in strict mode refuses
    a record with "',' expected after '\"'" exactly where text follows a closing quote, and with
    "unexpected end of data" exactly where a quoted field is never closed."""
    fields = [
        "x",
        "",
        '"a,b"',
        '"q""q"',
        '"l\nl"',
        'st"ray',
        '""',
        '"be"ta',
        '"x" ',
        '"""a"""',
        '"a"""b',
        '""""x',
        'é"',
    ]
    rng = random.Random(rows)
    for _ in range(3000):
        last = '"open' if rng.random() < 0.2 else rng.choice(fields)  # still open at the end of the data
        record = ",".join([*(rng.choice(fields) for _ in range(rows - 1)), last])
        hits, records, _ = _csv_quotes.malformed_quotes(
            np.frombuffer(f"{record}\n".encode(), dtype=np.uint8), ord('"'), ord(","), True
        )
        reader = csv.reader(io.StringIO(f"{record}\n", newline=""), strict=True)
        try:
            refused = "" if len(list(reader)) == 1 else "more than one record"
        except csv.Error as exc:
            refused = str(exc)
        assert records == 1, record
        kinds = {int(kind) for kind in hits.reshape(-1, 4)[:, 3]}
        expected = {
            "": set(),
            "',' expected after '\"'": {1},
            "unexpected end of data": {2},
        }
        assert kinds == expected[refused], record


def test_pieces_with_only_rfc4180_quotes_are_not_walked() -> None:
    clean = b'1,"a,b",x\n2,"q""q",""\n3,"l\nl",""""\r\n'
    quotes = csv_cuts.quote_positions(clean, ord('"'))
    assert csv_cuts.irregular_quotes(clean, quotes, ord(","), len(clean)).size == 0
    for dirty in (b'1,"be"ta\n', b'1,st"ray\n', b'1,"x" \n', b'1,"a,"b"\n', b'1,"open\n'):
        quotes = csv_cuts.quote_positions(dirty, ord('"'))
        assert csv_cuts.irregular_quotes(dirty, quotes, ord(","), len(dirty)).size > 0, dirty
    # quotes past the end of the piece are the next block's
    assert csv_cuts.irregular_quotes(b'1,x\n2,"y"z\n', np.array([6, 8]), ord(","), 4).size == 0


def test_csv_whole_numbers_a_float_would_round_are_refused(tmp_path: Path) -> None:
    text = "id,big\n1,12345678901234567890\n2,12.5\n3,123456789012345\n"
    path = write(tmp_path / "b.csv", text)
    frame, quarantine = collect(read_source("b", source(format="csv", path=path, infer_schema=True)))
    assert frame["big"].to_list() == [12.5, 123456789012345.0]
    assert quarantine[REASON].to_list() == ["type:big"]
    assert quarantine[RAW].to_list() == ["12345678901234567890"]  # kept exactly, not as 1.2345678901234567e19


def test_csv_datetime_forms_and_decimal_precision(tmp_path: Path) -> None:
    text = (
        "id,ts,price\n"
        "1,2020-01-02T03:04:05Z,1.123456789\n"
        "2,2020-01-02T03:04:05+02:00,2\n"
        "3,2020-01-02 03:04,3\n"
        "4,2020-01-02,4\n"
        "5,02/01/2020,5\n"
        "6,2020-01-02T03:04:05,1.1234567891\n"
        "7,24-01-02T03:04:05,7\n"
        "8,24-01-02,8\n"
    )
    path = write(tmp_path / "d.csv", text)
    frame, quarantine = collect(
        read_source("d", source(format="csv", path=path, schema={"ts": "datetime", "price": "decimal"}))
    )
    assert frame["ts"].to_list() == [
        dt.datetime(2020, 1, 2, 3, 4, 5),
        dt.datetime(2020, 1, 2, 1, 4, 5),  # offsets are converted to UTC
        dt.datetime(2020, 1, 2, 3, 4),
        dt.datetime(2020, 1, 2),
    ]
    assert frame["price"][0] == decimal.Decimal("1.123456789")
    # a non-ISO date, a decimal that would lose digits and two-digit years are refused, not guessed
    assert quarantine[REASON].to_list() == ["type:ts", "type:price", "type:ts", "type:ts"]


def test_csv_delimiter_quote_and_latin1_encoding(tmp_path: Path) -> None:
    text = "id;name;city\n1;'Müller; Jürgen';Zürich\n2;'It''s';Besançon\n"
    path = write(tmp_path / "l.csv", text, encoding="latin-1")
    csv = {"delimiter": ";", "quote": "'", "encoding": "latin-1"}
    frame, quarantine = collect(read_source("l", source(format="csv", path=path, csv=csv)))
    assert frame["name"].to_list() == ["Müller; Jürgen", "It's"]
    assert frame["city"].to_list() == ["Zürich", "Besançon"]
    assert quarantine.height == 0


def test_csv_latin1_file_read_as_utf8_is_a_source_error_with_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path / "l.csv", "id,city\n1,Zürich\n", encoding="latin-1")
    ingest = read_source("l", source(format="csv", path=path))
    with pytest.raises(SourceError) as error:
        collect(ingest)
    assert "not valid UTF-8" in str(error.value)
    assert "csv.encoding" in str(error.value)
    assert "Zürich" not in str(error.value) and "Z\ufffdrich" not in str(error.value)


def test_csv_invalid_utf8_is_located_by_its_offset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(input_files, "BLOCK_BYTES", 64)  # the bad byte far from the first block
    rows = b"".join(b"%d,name%d\n" % (i, i) for i in range(100))
    path = tmp_path / "u.csv"
    path.write_bytes(b"id,name\n" + rows + b"100,Z\xfcrich\n" + rows)
    with pytest.raises(
        SourceError, match=f"not valid UTF-8 text \\(an invalid byte near offset {8 + len(rows) + 5}\\)"
    ):
        collect(read_source("u", source(format="csv", path=str(path))))


def test_csv_undecodable_bytes_for_the_declared_encoding(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_bytes(b"id,name\n1,\x81\x8d\n")
    with pytest.raises(SourceError, match="not valid cp1252"):  # found while reading the header already
        read_source("b", source(format="csv", path=str(path), csv={"encoding": "cp1252"}))


def test_csv_without_header_and_with_null_values(tmp_path: Path) -> None:
    path = write(tmp_path / "h.csv", "1,NA,x\n2,3,\n3,n/a,NA\n")
    csv = {"header": False, "null_values": ["NA", "n/a"]}
    frame, quarantine = collect(
        read_source("h", source(format="csv", path=path, csv=csv, schema={"column_2": "int64"}))
    )
    assert frame.columns == ["column_1", "column_2", "column_3", ROW_ID]
    assert frame["column_2"].to_list() == [None, 3, None]
    assert frame["column_3"].to_list() == ["x", "", None]  # "" is not a null value here
    assert quarantine.height == 0


def test_csv_utf8_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "w.csv"
    path.write_bytes(b"\xef\xbb\xbfid,name\r\n1,a\r\n2,b\r\n")
    frame, _ = collect(read_source("w", source(format="csv", path=str(path))))
    assert frame.columns == ["id", "name", ROW_ID]
    assert frame["name"].to_list() == ["a", "b"]


def test_csv_infer_schema(tmp_path: Path) -> None:
    path = write(tmp_path / "i.csv", "id,amount,day,name\n1,1.5,2020-01-01,a\n2,2.5,2020-01-02,b\n")
    frame, _ = collect(read_source("i", source(format="csv", path=path, infer_schema=True)))
    assert frame.schema["id"] == pl.Int64
    assert frame.schema["amount"] == pl.Float64
    assert frame.schema["day"] == pl.Date
    assert frame.schema["name"] == pl.String


def test_csv_with_only_a_header_and_an_empty_file(tmp_path: Path) -> None:
    frame, quarantine = collect(
        read_source(
            "h",
            source(format="csv", path=write(tmp_path / "h.csv", "id,amount\n"), schema={"amount": "int64"}),
        )
    )
    assert frame.height == 0 and quarantine.height == 0
    assert frame.schema == pl.Schema({"id": pl.String, "amount": pl.Int64, ROW_ID: pl.UInt64})
    with pytest.raises(SourceError, match="is empty"):
        read_source("e", source(format="csv", path=write(tmp_path / "e.csv", "")))


def test_csv_partial_reads_stop_early(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", "id\n" + "".join(f"{i}\n" for i in range(1000)))
    ingest = read_source("c", source(format="csv", path=path))
    assert ingest.frame.head(3).collect()["id"].to_list() == ["0", "1", "2"]
    assert ingest.frame.filter(pl.col("id") == "500").collect()[ROW_ID].to_list() == [500]
    assert ingest.frame.select(pl.len()).collect().item() == 1000


def test_csv_glob_of_two_files_numbers_rows_across_files_and_fingerprints_each(tmp_path: Path) -> None:
    first = write(tmp_path / "part-1.csv", "id,v\n1,a\n2,b\n")
    second = write(tmp_path / "part-2.csv", "id,v\n3,c\n4,d,extra\n5,e\n")
    write(tmp_path / "other.txt", "not matched")
    ingest = read_source("g", source(format="csv", path=str(tmp_path / "part-*.csv")))
    frame, quarantine = collect(ingest)
    assert frame["id"].to_list() == ["1", "2", "3", "5"]
    assert frame[ROW_ID].to_list() == [0, 1, 2, 4]
    assert quarantine[ROW_ID].to_list() == [3]
    assert [f["location"] for f in ingest.fingerprints] == [first, second]
    for record, path in zip(ingest.fingerprints, (first, second), strict=True):
        data = Path(path).read_bytes()
        assert record["sha256"] == hashlib.sha256(data).hexdigest()
        assert record["bytes"] == len(data)


def test_csv_files_of_a_glob_must_share_their_header(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", "id,v\n1,a\n")
    write(tmp_path / "b.csv", "id,w\n1,a\n")
    with pytest.raises(SourceError, match="same columns"):
        read_source("g", source(format="csv", path=str(tmp_path / "*.csv")))


def test_declared_column_missing_from_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", "id;amount\n1;2\n")
    with pytest.raises(SourceError, match="not in the input") as error:
        read_source("c", source(format="csv", path=path, schema={"amount": "int64"}))
    assert "csv.delimiter" in str(error.value)  # the file looks like it has one column


def test_errors_never_quote_data_values(tmp_path: Path) -> None:
    path = write(tmp_path / "s.csv", "id,secret\n1,hunter2\n", encoding="utf-16")
    with pytest.raises(SourceError) as error:
        collect(read_source("s", source(format="csv", path=path)))
    assert "hunter2" not in str(error.value)


def test_reserved_and_duplicate_column_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="reserved"):
        read_source("c", source(format="csv", path=write(tmp_path / "a.csv", "id,__vl_row\n1,2\n")))
    with pytest.raises(SourceError, match="twice"):
        read_source("c", source(format="csv", path=write(tmp_path / "b.csv", "id,id\n1,2\n")))


def test_valid_and_quarantined_rows_come_from_a_single_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "c.csv", "id,amount\n1,2\n2,x\n3\n")
    calls: list[int] = []
    original = csv_reader.CsvScan.batches

    def counted(self: Any, *args: Any) -> Any:
        calls.append(1)
        return original(self, *args)

    monkeypatch.setattr(csv_reader.CsvScan, "batches", counted)
    ingest = read_source("c", source(format="csv", path=path, schema={"amount": "int64"}))
    frame, quarantine = collect(ingest)
    assert (frame.height, quarantine.height) == (1, 2)
    assert len(calls) == 1
    assert ingest.frame.head(1).collect().height == 1  # and a partial read works


# ---- the block/piece machinery: tiny blocks must give exactly what one whole-file read gives


def _random_csv(rng: random.Random, rows: int, *, stray_quotes: bool) -> str:
    lines = ["a,b,c"]
    for i in range(rows):
        kind = rng.random()
        if kind < 0.1:
            lines.append(f"{i},x")  # ragged
        elif kind < 0.2:
            lines.append(f'{i},"q,\n""uoted""\n",z')  # quoted newlines and doubled quotes
        elif kind < 0.25 and stray_quotes:
            lines.append(f'{i},5" screen,z')  # a literal quote inside an unquoted field
        elif kind < 0.27 and stray_quotes:
            lines.append(f'{i},"be"ta,z')  # text after a closing quote
        elif kind < 0.3:
            lines.append("")
        else:
            lines.append(f"{i},v{rng.randint(0, 99)},w")
    return "\n".join(lines) + "\n"


def _reference(path: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """One serial pyarrow read of the whole file and one walk of it for malformed quotes: valid rows and
    (index, raw) of the rows set aside."""
    bad: list[tuple[int, str]] = []

    def handler(row: Any) -> str:
        bad.append((row.number - 2, row.text))
        return "skip"

    table = pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(use_threads=False, block_size=1 << 24),
        parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=handler),
        convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys("abc", pa.string())),
    )
    malformed = _csv_quotes.in_piece(Path(path).read_bytes(), ord('"'), ord(","), header=True)
    ragged = {index for index, _ in bad}
    records = (index for index in itertools.count() if index not in ragged)
    valid = []
    for row, record in zip(table.to_pylist(), records, strict=False):
        if record in malformed:
            bad.append((record, malformed[record][0]))
        else:
            valid.append(tuple(row.values()))
    return valid, sorted(bad)


@pytest.mark.parametrize("stray_quotes", [False, True])
@pytest.mark.parametrize("block", [64, 257, 4096])
def test_csv_blocks_and_pieces_match_a_whole_file_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int, stray_quotes: bool
) -> None:
    rng = random.Random(block * 2 + stray_quotes)
    path = write(tmp_path / "p.csv", _random_csv(rng, 400, stray_quotes=stray_quotes))
    monkeypatch.setattr(input_files, "BLOCK_BYTES", block)
    monkeypatch.setattr(csv_reader, "SERIAL_BLOCK_BYTES", max(block, 128))
    monkeypatch.setattr(input_files, "workers", lambda: 3)
    serial: list[int] = []
    original = csv_reader.CsvScan._serial

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        serial.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(csv_reader.CsvScan, "_serial", counted)
    frame, quarantine = collect(read_source("p", source(format="csv", path=path, csv={"null_values": []})))
    # RFC 4180 files are always cut right; stray quotes send the rest of the file to the serial reader
    assert bool(serial) == stray_quotes
    valid, bad = _reference(path)
    assert [tuple(r) for r in frame.select("a", "b", "c").iter_rows()] == valid
    assert list(zip(quarantine[ROW_ID].to_list(), quarantine[RAW].to_list(), strict=True)) == bad
    ids = sorted(frame[ROW_ID].to_list() + quarantine[ROW_ID].to_list())
    assert ids == list(range(len(valid) + len(bad)))


def test_csv_random_files_and_block_sizes_match_a_whole_file_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fields = ["1", "x", "", '"a,b"', '"q""q"', '"l1\nl2"', '"l1\r\nl2"', 'st"ray', '"', '""', "é", '"be"ta']
    for seed in range(80):
        rng = random.Random(seed)
        end = rng.choice(["\n", "\r\n"])
        lines = ["a,b,c"]
        for _ in range(rng.randint(0, 60)):
            lines.append(",".join(rng.choice(fields) for _ in range(rng.choice([3, 3, 3, 3, 2, 4, 1]))))
        text = end.join(lines) + rng.choice([end, ""])
        path = write(tmp_path / f"r{seed}.csv", text)
        monkeypatch.setattr(input_files, "BLOCK_BYTES", rng.randint(1, 300))
        monkeypatch.setattr(csv_reader, "SERIAL_BLOCK_BYTES", rng.randint(128, 400))
        monkeypatch.setattr(input_files, "workers", lambda rng=rng: rng.randint(1, 4))
        frame, quarantine = collect(
            read_source("r", source(format="csv", path=path, csv={"null_values": []}))
        )
        valid, bad = _reference(path)
        assert [tuple(r) for r in frame.select("a", "b", "c").iter_rows()] == valid, seed
        assert list(zip(quarantine[ROW_ID].to_list(), quarantine[RAW].to_list(), strict=True)) == bad, seed
