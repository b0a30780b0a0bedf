"""Reading sources: CSV (ragged rows and bad values quarantined), JSON Lines, Parquet, S3 and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import random
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from vaultline.engines.polars import sources
from vaultline.engines.polars.base import REASON, ROW_ID
from vaultline.engines.polars.sources import RAW, Ingest, read_source
from vaultline.errors import SourceError
from vaultline.spec.sources import Source


def source(**fields: Any) -> Source:
    return Source.model_validate(fields)


def collect(ingest: Ingest) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Valid and quarantined rows, collected together as the executor does."""
    lazies = [ingest.frame] + ([ingest.quarantine] if ingest.quarantine is not None else [])
    frames = pl.collect_all(lazies)
    quarantine = frames[1] if len(frames) > 1 else pl.DataFrame(schema={ROW_ID: pl.UInt64, REASON: pl.String})
    return frames[0].sort(ROW_ID), quarantine.sort(ROW_ID)


def write(path: Path, text: str, encoding: str = "utf-8") -> str:
    path.write_bytes(text.encode(encoding))
    return str(path)


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
    )
    path = write(tmp_path / "t.csv", text)
    schema = {"amount": "int64", "day": "date", "flag": "bool"}
    frame, quarantine = collect(read_source("t", source(format="csv", path=path, schema=schema)))
    assert frame[ROW_ID].to_list() == [0, 4]
    assert frame["amount"].to_list() == [10, 50]
    assert frame["flag"].to_list() == [True, True]
    assert quarantine[ROW_ID].to_list() == [1, 2, 3, 5]
    assert quarantine[REASON].to_list() == ["type:amount", "type:day", "type:flag", "type:amount"]
    assert quarantine[RAW].to_list() == ["ten", "2020-02-30", "maybe", "1.5"]
    # the whole row is kept as read, nothing is lost
    assert quarantine.select("id", "amount", "day", "flag").row(0) == ("2", "ten", "2020-01-02", "no")


def test_csv_datetime_forms_and_decimal_precision(tmp_path: Path) -> None:
    text = (
        "id,ts,price\n"
        "1,2020-01-02T03:04:05Z,1.123456789\n"
        "2,2020-01-02T03:04:05+02:00,2\n"
        "3,2020-01-02 03:04,3\n"
        "4,2020-01-02,4\n"
        "5,02/01/2020,5\n"
        "6,2020-01-02T03:04:05,1.1234567891\n"
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
    # a non-ISO date, and a decimal that would lose digits, are refused rather than guessed or rounded
    assert quarantine[REASON].to_list() == ["type:ts", "type:price"]


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


def test_missing_file_and_empty_glob_are_source_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        read_source("m", source(format="csv", path=str(tmp_path / "nope.csv")))
    with pytest.raises(SourceError, match="no file matches") as error:
        read_source("m", source(format="csv", path=str(tmp_path / "*.csv")))
    assert error.value.hint
    with pytest.raises(SourceError, match="is a directory"):
        read_source("m", source(format="csv", path=str(tmp_path)))


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


def test_file_changed_after_fingerprint_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    write(path, "id\n1\n")
    ingest = read_source("c", source(format="csv", path=str(path)))
    write(path, "id\n1\n2\n")
    with pytest.raises(SourceError, match="changed after it was fingerprinted"):
        collect(ingest)


def test_valid_and_quarantined_rows_come_from_a_single_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "c.csv", "id,amount\n1,2\n2,x\n3\n")
    calls: list[int] = []
    original = sources._CsvScan._batches

    def counted(self: Any, *args: Any) -> Any:
        calls.append(1)
        return original(self, *args)

    monkeypatch.setattr(sources._CsvScan, "_batches", counted)
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
        elif kind < 0.3:
            lines.append("")
        else:
            lines.append(f"{i},v{rng.randint(0, 99)},w")
    return "\n".join(lines) + "\n"


def _reference(path: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """One serial pyarrow read of the whole file: valid rows and (index, raw) of the rows it set aside."""
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
    return [tuple(r.values()) for r in table.to_pylist()], sorted(bad)


@pytest.mark.parametrize("stray_quotes", [False, True])
@pytest.mark.parametrize("block", [64, 257, 4096])
def test_csv_blocks_and_pieces_match_a_whole_file_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int, stray_quotes: bool
) -> None:
    rng = random.Random(block * 2 + stray_quotes)
    path = write(tmp_path / "p.csv", _random_csv(rng, 400, stray_quotes=stray_quotes))
    monkeypatch.setattr(sources, "BLOCK_BYTES", block)
    monkeypatch.setattr(sources, "SERIAL_BLOCK_BYTES", max(block, 128))
    monkeypatch.setattr(sources, "_workers", lambda: 3)
    serial: list[int] = []
    original = sources._CsvScan._serial

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        serial.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(sources._CsvScan, "_serial", counted)
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
    fields = ["1", "x", "", '"a,b"', '"q""q"', '"l1\nl2"', '"l1\r\nl2"', 'st"ray', '"', '""', "é"]
    for seed in range(80):
        rng = random.Random(seed)
        end = rng.choice(["\n", "\r\n"])
        lines = ["a,b,c"]
        for _ in range(rng.randint(0, 60)):
            lines.append(",".join(rng.choice(fields) for _ in range(rng.choice([3, 3, 3, 3, 2, 4, 1]))))
        text = end.join(lines) + rng.choice([end, ""])
        path = write(tmp_path / f"r{seed}.csv", text)
        monkeypatch.setattr(sources, "BLOCK_BYTES", rng.randint(1, 300))
        monkeypatch.setattr(sources, "SERIAL_BLOCK_BYTES", rng.randint(128, 400))
        monkeypatch.setattr(sources, "_workers", lambda rng=rng: rng.randint(1, 4))
        frame, quarantine = collect(
            read_source("r", source(format="csv", path=path, csv={"null_values": []}))
        )
        valid, bad = _reference(path)
        assert [tuple(r) for r in frame.select("a", "b", "c").iter_rows()] == valid, seed
        assert list(zip(quarantine[ROW_ID].to_list(), quarantine[RAW].to_list(), strict=True)) == bad, seed


# ------------------------------------------------------------------------------------ JSON Lines


def test_jsonl_malformed_lines_are_quarantined(tmp_path: Path) -> None:
    lines = [
        '{"id": "001", "amount": 1.5, "tags": ["a"]}',
        "{not json",
        '{"id": "003", "amount": "x"}',
        "",
        "[1, 2]",
        '{"id": "005", "amount": 5, "extra": true}',
        "null",
        '{"id": "007", "tags": {"not": "a list"}}',
        '{"id": "008"}',
    ]
    path = write(tmp_path / "j.jsonl", "\n".join(lines) + "\n")
    ingest = read_source("j", source(format="jsonl", path=path, schema={"amount": "float64"}))
    frame, quarantine = collect(ingest)
    assert frame["id"].to_list() == ["001", "005", "008"]
    assert frame["amount"].to_list() == [1.5, 5.0, None]
    assert frame["tags"].to_list() == [["a"], None, None]
    assert frame[ROW_ID].to_list() == [0, 4, 7]
    reasons = dict(zip(quarantine[ROW_ID].to_list(), quarantine[REASON].to_list(), strict=True))
    assert reasons[1].startswith("json:")
    assert reasons == {
        1: reasons[1],
        2: "type:amount",
        3: "json:not an object",
        5: "json:not an object",
        6: "type:tags",
    }
    raws = dict(zip(quarantine[ROW_ID].to_list(), quarantine[RAW].to_list(), strict=True))
    assert raws[1] == "{not json"
    assert raws[2] == "x"
    assert ingest.fingerprints[0]["sha256"] == hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_jsonl_scalars_are_converted_like_csv_text(tmp_path: Path) -> None:
    path = write(tmp_path / "j.jsonl", '{"id": 1, "n": 2}\n{"id": 2, "n": 2.5}\n{"id": 3, "n": "7"}\n')
    frame, quarantine = collect(read_source("j", source(format="jsonl", path=path, schema={"n": "int64"})))
    assert frame.schema["id"] == pl.Int64  # inferred from the first lines
    assert frame["n"].to_list() == [2, 7]
    assert quarantine[REASON].to_list() == ["type:n"]  # 2.5 is not truncated to 2
    assert quarantine[RAW].to_list() == ["2.5"]


def test_jsonl_small_blocks_bisect_to_the_bad_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [f'{{"i": {i}, "s": "v{i}"}}' if i % 17 else f'{{"i": {i}, "s": ' for i in range(300)]
    path = write(tmp_path / "j.jsonl", "\n".join(lines))
    monkeypatch.setattr(sources, "BLOCK_BYTES", 500)
    frame, quarantine = collect(read_source("j", source(format="jsonl", path=path)))
    assert quarantine[ROW_ID].to_list() == list(range(0, 300, 17))
    assert frame[ROW_ID].to_list() == [i for i in range(300) if i % 17]
    assert frame["i"].to_list() == frame[ROW_ID].cast(pl.Int64).to_list()


def test_jsonl_glob_continues_row_ids_and_needs_objects(tmp_path: Path) -> None:
    write(tmp_path / "a.jsonl", '{"id": 1}\n{"id": 2}\n')
    write(tmp_path / "b.jsonl", '{"id": 3}\n{"id": \n')
    frame, quarantine = collect(read_source("j", source(format="jsonl", path=str(tmp_path / "*.jsonl"))))
    assert frame["id"].to_list() == [1, 2, 3]
    assert frame[ROW_ID].to_list() == [0, 1, 2]
    assert quarantine[ROW_ID].to_list() == [3]
    with pytest.raises(SourceError, match="no JSON object"):
        read_source("j", source(format="jsonl", path=write(tmp_path / "c.jsonl", "[1]\n[2]\n")))


# ---------------------------------------------------------------------------------------- Parquet


def test_parquet_with_declared_types(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    data = {"id": ["01", "02", "03", "04"], "amount": ["1", "x", "3", "4"], "n": [1.0, 2.0, 3.0, 4.5]}
    pl.DataFrame(data).write_parquet(path)
    schema = {"amount": "int64", "n": "int64", "id": "string"}
    ingest = read_source("p", source(format="parquet", path=str(path), schema=schema))
    frame, quarantine = collect(ingest)
    assert frame["amount"].to_list() == [1, 3]
    assert frame["n"].to_list() == [1, 3]
    assert frame[ROW_ID].to_list() == [0, 2]
    assert quarantine[REASON].to_list() == ["type:amount", "type:n"]  # 4.5 is not truncated to 4
    assert quarantine[RAW].to_list() == ["x", "4.5"]
    assert ingest.fingerprints[0]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_parquet_without_conversions_has_no_quarantine(tmp_path: Path) -> None:
    for i in range(2):
        pl.DataFrame({"id": [i * 10, i * 10 + 1]}).write_parquet(tmp_path / f"p{i}.parquet")
    ingest = read_source("p", source(format="parquet", path=str(tmp_path / "*.parquet")))
    assert ingest.quarantine is None
    frame = ingest.frame.collect()
    assert frame["id"].to_list() == [0, 1, 10, 11]
    assert frame[ROW_ID].to_list() == [0, 1, 2, 3]
    assert frame.schema[ROW_ID] == pl.UInt64


# --------------------------------------------------------------------------------------------- S3


@pytest.mark.s3
def test_s3_csv_glob_through_moto(s3_bucket: str, s3_client: Any) -> None:
    bodies = {"in/a.csv": b"id,amount\n001,1\n002,x\n", "in/b.csv": b"id,amount\n003,3\n004\n"}
    for key, body in bodies.items():
        s3_client.put_object(Bucket=s3_bucket, Key=key, Body=body)
    ingest = read_source(
        "s", source(format="csv", path=f"s3://{s3_bucket}/in/*.csv", schema={"amount": "int64"})
    )
    frame, quarantine = collect(ingest)
    assert frame["id"].to_list() == ["001", "003"]
    assert frame[ROW_ID].to_list() == [0, 2]
    assert quarantine[REASON].to_list() == ["type:amount", "csv:expected 2 fields, got 1"]
    assert [f["location"] for f in ingest.fingerprints] == [f"s3://{s3_bucket}/{k}" for k in bodies]
    assert [f["sha256"] for f in ingest.fingerprints] == [
        hashlib.sha256(b).hexdigest() for b in bodies.values()
    ]


@pytest.mark.s3
def test_s3_parquet_through_moto(s3_bucket: str, s3_client: Any, tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    pl.DataFrame({"id": ["a", "b"], "v": [1.5, 2.5]}).write_parquet(path)
    s3_client.upload_file(str(path), s3_bucket, "data/p.parquet")
    ingest = read_source("s", source(format="parquet", path=f"s3://{s3_bucket}/data/p.parquet"))
    frame = ingest.frame.collect()
    assert frame["v"].to_list() == [1.5, 2.5]
    assert ingest.fingerprints[0]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.s3
def test_s3_missing_object_and_bucket(s3_bucket: str) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        read_source("s", source(format="csv", path=f"s3://{s3_bucket}/nope.csv"))
    with pytest.raises(SourceError, match="no file matches"):
        read_source("s", source(format="csv", path=f"s3://{s3_bucket}/nope/*.csv"))
    with pytest.raises(SourceError):
        read_source("s", source(format="csv", path="s3://vl-no-such-bucket-here/x.csv"))


# --------------------------------------------------------------------------------------- Postgres


def _execute(url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


@pytest.mark.postgres
def test_postgres_table_types_and_streaming(postgres_url: str, pg_table: str) -> None:
    _execute(
        postgres_url,
        f"""CREATE TABLE "{pg_table}" (
            id integer, code text, amount numeric(12, 2), ratio double precision, big bigint,
            ok boolean, day date, ts timestamp, tstz timestamptz, raw numeric, ident uuid, doc jsonb)""",
        f"""INSERT INTO "{pg_table}"
            SELECT g, lpad(g::text, 5, '0'), g * 1.25, g / 4.0, g::bigint * 1000000000, g % 2 = 0,
                   DATE '2020-01-01' + g, TIMESTAMP '2020-01-01 00:00:00' + g * INTERVAL '1 hour',
                   TIMESTAMPTZ '2020-01-01 00:00:00+00' + g * INTERVAL '1 minute',
                   CASE WHEN g = 3 THEN 1.0123456789012 ELSE g END,
                   md5(g::text)::uuid, jsonb_build_object('g', g)
            FROM generate_series(0, 2499) AS g""",
    )
    ingest = read_source(
        "pg", source(format="postgres", url=postgres_url, table=f"public.{pg_table}", batch_rows=1000)
    )
    frame, quarantine = collect(ingest)
    assert frame.height == 2499
    assert quarantine[ROW_ID].to_list() == [3]  # unconstrained numeric is converted like a CSV decimal
    assert quarantine[REASON].to_list() == ["type:raw"]
    assert frame[ROW_ID].to_list() == [i for i in range(2500) if i != 3]
    schema = frame.schema
    assert schema["id"] == pl.Int32
    assert schema["code"] == pl.String
    assert schema["amount"] == pl.Decimal(12, 2)
    assert schema["ratio"] == pl.Float64
    assert schema["big"] == pl.Int64
    assert schema["ok"] == pl.Boolean
    assert schema["day"] == pl.Date
    assert schema["ts"] == pl.Datetime("us")
    assert schema["tstz"] == pl.Datetime("us", "UTC")
    assert schema["raw"] == pl.Decimal(38, 9)
    assert schema["ident"] == pl.String
    assert schema["doc"] == pl.String
    first = frame.row(0, named=True)
    assert first["code"] == "00000"
    assert first["amount"] == decimal.Decimal("0.00")
    assert first["ident"] == "cfcd2084-95d5-65ef-66e7-dff9f98764da"
    assert first["doc"] == '{"g": 0}'
    (record,) = ingest.fingerprints
    assert record["location"] == f"postgres:public.{pg_table}"
    assert record["rows"] == 2500
    assert len(record["sha256"]) == 64


@pytest.mark.postgres
def test_postgres_query_source(postgres_url: str, pg_table: str) -> None:
    _execute(
        postgres_url,
        f'CREATE TABLE "{pg_table}" (id text, amount text)',
        f"""INSERT INTO "{pg_table}" VALUES ('007', '1'), ('008', 'x'), ('009', '3')""",
    )
    # `%` and `:name` must reach the server untouched (no driver placeholders, no SQLAlchemy binds)
    query = f"""SELECT id, amount FROM "{pg_table}" WHERE id LIKE '0%' AND ' :x' <> '' ORDER BY id;"""
    ingest = read_source(
        "q", source(format="postgres", url=postgres_url, query=query, schema={"amount": "int64"})
    )
    frame, quarantine = collect(ingest)
    assert frame["id"].to_list() == ["007", "009"]
    assert frame["amount"].to_list() == [1, 3]
    assert quarantine[RAW].to_list() == ["x"]
    assert ingest.fingerprints[0]["location"] == "postgres:query"
    assert ingest.stable_order is False  # the executor spills before the first step reading rows


@pytest.mark.postgres
def test_postgres_table_changed_during_the_run_is_detected(postgres_url: str, pg_table: str) -> None:
    _execute(postgres_url, f'CREATE TABLE "{pg_table}" (id int)', f'INSERT INTO "{pg_table}" VALUES (1)')
    ingest = read_source("pg", source(format="postgres", url=postgres_url, table=pg_table))
    _execute(postgres_url, f'INSERT INTO "{pg_table}" VALUES (2)')
    with pytest.raises(SourceError, match="changed during the run"):
        ingest.frame.collect()


@pytest.mark.postgres
def test_postgres_missing_table(postgres_url: str) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        read_source("pg", source(format="postgres", url=postgres_url, table="public.vl_no_such_table"))


def test_postgres_url_with_a_password_is_refused_without_echoing_it() -> None:
    for url in (
        "postgresql://alice:s3cr3t-pw@db.example:5432/prod",
        "postgresql+psycopg://alice:s3cr3t-pw@db.example/prod",
        "postgresql://alice@db.example/prod?password=s3cr3t-pw",
    ):
        with pytest.raises(SourceError) as error:
            read_source("pg", source(format="postgres", url=url, table="t"))
        assert "PGPASSWORD" in str(error.value)
        assert "s3cr3t-pw" not in str(error.value)


@pytest.mark.parametrize("table", ['t"; DROP TABLE x; --', "a.b.c", "1abc", "t x", ""])
def test_postgres_table_names_are_validated(table: str) -> None:
    with pytest.raises(SourceError, match="not a table name"):
        read_source("pg", source(format="postgres", url="postgresql://u@127.0.0.1:1/db", table=table))


def test_postgres_unreachable_server_is_a_source_error() -> None:
    with pytest.raises(SourceError, match="cannot connect"):
        read_source("pg", source(format="postgres", url="postgresql://u@127.0.0.1:1/db", table="t"))
