"""JSON Lines sources: malformed lines quarantined with their reason, scalars converted like CSV text."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl
import pytest
from reading import collect, source, write

from vaultline.engines.polars.base import REASON, ROW_ID
from vaultline.engines.polars.sources import RAW, input_files, read_source
from vaultline.errors import SourceError


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
    monkeypatch.setattr(input_files, "BLOCK_BYTES", 500)
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


def test_jsonl_keys_the_first_lines_never_had_are_quarantined_not_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vaultline.engines.polars.sources import jsonl_reader

    monkeypatch.setattr(jsonl_reader, "_JSON_SAMPLE_LINES", 3)
    lines = [
        '{"id": 0, "addr": {"city": "a"}, "note": "he said \\"zip\\": 1"}',
        '{"id": 1, "addr": {"city": "b"}}',
        '{"id": 2, "addr": {"city": "c"}}',
        '{"id": 3, "addr": {"city": "d"}, "ssn_extra": "ZZSECRET"}',
        '{"id": 4, "addr": {"city": "e", "zip": "1"}}',
        '{"id": 5, "addr": {"city": "f"}}',
    ]
    path = write(tmp_path / "j.jsonl", "\n".join(lines) + "\n")
    frame, quarantine = collect(read_source("j", source(format="jsonl", path=path)))
    assert frame["id"].to_list() == [0, 1, 2, 5]  # a key inside a text value is not a key
    assert quarantine[ROW_ID].to_list() == [3, 4]
    assert quarantine[REASON].to_list() == [jsonl_reader.UNKNOWN_FIELD] * 2
    assert "ZZSECRET" in quarantine[RAW][0]  # kept whole in the quarantine (encrypted there)


def test_jsonl_lines_polars_would_decode_with_a_loss_are_quarantined(tmp_path: Path) -> None:
    from vaultline.engines.polars.sources import jsonl_reader

    lines = [
        '{"id": "0", "name": "a", "addr": {"id": "x"}}',  # the same key at two depths: fine
        '{"id": "1", "name": "b", "name": "c", "addr": {"id": "y"}}',  # one value would be dropped
        '{"id": "2", "name": "d", "addr": {"id": "z", "id": "w"}}',  # twice in a nested object
        '{"id": "3", "name": "e \\"name\\": x", "addr": {"id": "v"}}',  # a key-like text inside a value
        '{"id": "4", "name": "\\ud800", "addr": {"id": "u"}}',  # Polars alone reads NUL here
        '{"id": "5", "name": "\\ud83d\\ude00", "addr": {"id": "t"}}',  # a pair: one emoji
        '{"id": "6", "name": "\\\\ud800", "addr": {"id": "s"}}',  # a backslash, then text
        '{"id": "7", "name": "\\udc00", "addr": {"id": "r"}}',  # a low surrogate alone
    ]
    path = write(tmp_path / "d.jsonl", "\n".join(lines) + "\n")
    frame, quarantine = collect(read_source("d", source(format="jsonl", path=path)))
    assert frame["id"].to_list() == ["0", "3", "5", "6"]
    assert frame["name"].to_list() == ["a", 'e "name": x', "\U0001f600", "\\ud800"]
    assert quarantine[ROW_ID].to_list() == [1, 2, 4, 7]
    assert quarantine[REASON].to_list() == [
        jsonl_reader.DUPLICATE_KEY,
        jsonl_reader.DUPLICATE_KEY,
        jsonl_reader.UNPAIRED_SURROGATE,
        jsonl_reader.UNPAIRED_SURROGATE,
    ]
    assert quarantine[RAW].to_list() == [lines[1], lines[2], lines[4], lines[7]]


def test_jsonl_invalid_utf8_is_located_by_its_offset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(input_files, "BLOCK_BYTES", 64)  # the bad byte far from the first block
    lines = b"".join(b'{"id": "%d"}\n' % i for i in range(50))
    path = tmp_path / "u.jsonl"
    path.write_bytes(lines + b'{"id": "Z\xfcrich"}\n' + lines)
    with pytest.raises(
        SourceError, match=rf"not valid UTF-8 text \(an invalid byte near offset {len(lines) + 9}\)"
    ):
        collect(read_source("u", source(format="jsonl", path=str(path))))


def test_jsonl_fields_keep_the_order_the_file_has(tmp_path: Path) -> None:
    """Polars' inference ordered them differently run by run: an appending output's columns would
    change between two runs of the same input."""
    keys = [f"field_{n:02d}_{'x' * (n % 5)}" for n in range(40)]
    path = tmp_path / "wide.jsonl"
    write(path, "".join(json.dumps({k: n for n, k in enumerate(keys)}) + "\n" for _ in range(3)))
    for _ in range(3):
        frame, _ = collect(read_source("w", source(format="jsonl", path=str(path))))
        assert [c for c in frame.columns if c in keys] == keys
