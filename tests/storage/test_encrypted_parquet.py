"""Parquet Modular Encryption with Vaultline keys: per-class column keys, partial readers, interop,
plaintext footers, no values in the clear, rotation and rewrap, S3."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pyarrow.parquet.encryption as pe
import pytest

from kms_faults import fail_kms
from vaultline.errors import KeyringError, OutputError, SourceError
from vaultline.keys.local import LocalKeyring
from vaultline.keys.provider import KeyRef
from vaultline.keys.secret import SecretBytes
from vaultline.storage import locations
from vaultline.storage.encrypted_parquet import (
    ColumnKeyUnavailable,
    EncryptedDataCorrupt,
    EncryptionPlan,
    FooterKeyUnavailable,
    RewrapUnsupported,
    describe,
    key_material_path,
    open_writer,
    read_table,
    rewrap,
    write_table,
)
from vaultline.storage.kms_client import KeyMaterialCorrupt, MasterKeyRefused, kms_client_factory

ROWS = 500
PLAIN = ["id", "amount", "region"]
PII = ["name", "email"]
PHI = ["diagnosis"]
SECRETS = (b"NAMESECRET", b"MAILSECRET", b"DIAGSECRET")


class HoldsOnly:
    """A provider that holds only some keys: it refuses to wrap or unwrap with any other."""

    def __init__(self, provider: LocalKeyring, *names: str) -> None:
        self._provider = provider
        self._names = set(names)

    def _check(self, name: str) -> None:
        if name not in self._names:
            raise KeyringError(f"this caller does not hold key '{name}'")

    def wrap_key(self, ref: KeyRef, key: bytes) -> bytes:
        self._check(ref.name)
        return self._provider.wrap_key(ref, key)

    def unwrap_data_key(self, name: str, wrapped: bytes) -> SecretBytes:
        self._check(name)
        return self._provider.unwrap_data_key(name, wrapped)


@pytest.fixture
def ring(keyring: LocalKeyring) -> LocalKeyring:
    for name in ("pii_key", "phi_key", "footer_key"):
        keyring.create(name)
    return keyring


@pytest.fixture
def table() -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(ROWS), pa.int64()),
            "amount": pa.array([i * 1.25 for i in range(ROWS)], pa.float64()),
            "region": [f"REGIONPLAIN{i % 7}" for i in range(ROWS)],
            "name": [f"NAMESECRET{i:06d}" for i in range(ROWS)],
            "email": [f"MAILSECRET{i:06d}@example.org" for i in range(ROWS)],
            "diagnosis": [f"DIAGSECRET{i % 13:03d}" for i in range(ROWS)],
        }
    )


def plan(*, plaintext_footer: bool = False, external: bool = False) -> EncryptionPlan:
    return EncryptionPlan(
        footer_key="footer_key",
        column_keys={"pii_key": PII, "phi_key": PHI},
        plaintext_footer=plaintext_footer,
        external_key_material=external,
    )


def write(path: Path, table: pa.Table, provider: Any, **plan_options: bool) -> Path:
    write_table(table, path, plan(**plan_options), provider, compression="none")
    return path


# -- readers and their keys -------------------------------------------------------------------------
@pytest.mark.parametrize("plaintext_footer", [False, True])
def test_full_key_reader_gets_the_exact_table(
    tmp_path: Path, ring: LocalKeyring, table: pa.Table, plaintext_footer: bool
) -> None:
    path = write(tmp_path / "out.parquet", table, ring, plaintext_footer=plaintext_footer)
    assert read_table(path, ring).equals(table)
    assert read_table(path, ring, columns=["name", "id"]).equals(table.select(["name", "id"]))


@pytest.mark.parametrize("plaintext_footer", [False, True])
def test_pii_holder_reads_pii_and_plain_but_not_phi(
    tmp_path: Path, ring: LocalKeyring, table: pa.Table, plaintext_footer: bool
) -> None:
    path = write(tmp_path / "out.parquet", table, ring, plaintext_footer=plaintext_footer)
    pii_reader = HoldsOnly(ring, "pii_key", "footer_key")

    wanted = [*PLAIN, *PII]
    assert read_table(path, pii_reader, columns=wanted).equals(table.select(wanted))

    with pytest.raises(ColumnKeyUnavailable) as refused:
        read_table(path, pii_reader, columns=["id", "diagnosis"])
    assert refused.value.columns == {"diagnosis": "phi_key"}
    assert "'diagnosis'" in str(refused.value)
    assert "phi_key" in str(refused.value)
    assert "does not hold key 'phi_key'" in str(refused.value)
    assert "Traceback" not in str(refused.value)

    # no explicit columns: the same error, listing what it cannot and what it can read
    with pytest.raises(ColumnKeyUnavailable) as everything:
        read_table(path, pii_reader)
    assert everything.value.columns == {"diagnosis": "phi_key"}
    assert everything.value.readable == (*PLAIN, *PII)
    assert "id, amount, region, name, email" in str(everything.value)
    assert isinstance(everything.value, KeyringError)


def test_a_reader_without_any_column_key_reads_plain_columns(
    tmp_path: Path, ring: LocalKeyring, table: pa.Table
) -> None:
    path = write(tmp_path / "out.parquet", table, ring)
    footer_only = HoldsOnly(ring, "footer_key")
    assert read_table(path, footer_only, columns=PLAIN).equals(table.select(PLAIN))
    with pytest.raises(ColumnKeyUnavailable) as refused:
        read_table(path, footer_only)
    assert refused.value.columns == {"name": "pii_key", "email": "pii_key", "diagnosis": "phi_key"}


def test_encrypted_footer_without_the_footer_key_reveals_nothing(
    tmp_path: Path, ring: LocalKeyring, table: pa.Table
) -> None:
    path = write(tmp_path / "out.parquet", table, ring)
    with pytest.raises(FooterKeyUnavailable, match="footer_key") as refused:
        read_table(path, HoldsOnly(ring, "pii_key", "phi_key"), columns=["id"])
    assert "not even the column names" in str(refused.value)


def test_unknown_column_is_a_clear_error(tmp_path: Path, ring: LocalKeyring, table: pa.Table) -> None:
    path = write(tmp_path / "out.parquet", table, ring)
    with pytest.raises(SourceError, match="'nope' is not in the file"):
        read_table(path, ring, columns=["nope"])


# -- plain pyarrow ----------------------------------------------------------------------------------
def test_plain_pyarrow_without_decryption_properties_fails(
    tmp_path: Path, ring: LocalKeyring, table: pa.Table
) -> None:
    path = write(tmp_path / "out.parquet", table, ring)
    with pytest.raises(OSError, match="encrypted"):
        pq.read_table(path)


def test_plain_pyarrow_with_vaultlines_kms_client_reads_it(
    tmp_path: Path, ring: LocalKeyring, table: pa.Table
) -> None:
    path = write(tmp_path / "out.parquet", table, ring)
    factory = pe.CryptoFactory(kms_client_factory(ring))
    properties = factory.file_decryption_properties(
        pe.KmsConnectionConfig(), pe.DecryptionConfiguration(cache_lifetime=timedelta(minutes=5))
    )
    assert pq.read_table(path, decryption_properties=properties).equals(table)


def test_kms_client_error_surfaces_as_the_vaultline_exception(
    tmp_path: Path, ring: LocalKeyring, table: pa.Table
) -> None:
    """pyarrow hands the callback's exception back unchanged (not wrapped in an OSError)."""
    path = write(tmp_path / "out.parquet", table, ring)
    factory = pe.CryptoFactory(kms_client_factory(HoldsOnly(ring, "footer_key", "pii_key")))
    properties = factory.file_decryption_properties(pe.KmsConnectionConfig())
    with pytest.raises(MasterKeyRefused) as refused:
        pq.read_table(path, decryption_properties=properties)
    assert refused.value.key_ref == "phi_key"


def test_plaintext_footer_lets_a_legacy_reader_read_unencrypted_columns_only(
    tmp_path: Path, ring: LocalKeyring, table: pa.Table
) -> None:
    path = write(tmp_path / "out.parquet", table, ring, plaintext_footer=True)
    assert pq.ParquetFile(path).schema_arrow.names == table.column_names
    assert pq.read_table(path, columns=PLAIN).equals(table.select(PLAIN))
    with pytest.raises(OSError, match="decrypt"):
        pq.read_table(path)
    # Vaultline's reader without the footer key behaves the same way, with a clear error
    no_footer = HoldsOnly(ring, "pii_key")
    assert read_table(path, no_footer, columns=PLAIN).equals(table.select(PLAIN))
    with pytest.raises(ColumnKeyUnavailable, match="footer key 'footer_key'") as refused:
        read_table(path, no_footer, columns=["name"])
    # the key to ask for is the refused footer key: the column's own was granted
    assert refused.value.columns == {"name": "footer_key"}
    assert "ask for access to 'footer_key'" in (refused.value.hint or "")


# -- what is on disk --------------------------------------------------------------------------------
@pytest.mark.parametrize(("plaintext_footer", "external"), [(False, False), (True, False), (True, True)])
def test_no_sensitive_value_is_stored_in_the_clear(
    tmp_path: Path, ring: LocalKeyring, table: pa.Table, plaintext_footer: bool, external: bool
) -> None:
    write(tmp_path / "out.parquet", table, ring, plaintext_footer=plaintext_footer, external=external)
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    if plaintext_footer:  # control: uncompressed plaintext columns are greppable
        assert b"REGIONPLAIN3" in stored
    for secret in SECRETS:
        assert secret not in stored


def test_describe_is_value_free(tmp_path: Path, ring: LocalKeyring, table: pa.Table) -> None:
    encrypted_footer = write(tmp_path / "a.parquet", table, ring)
    info = describe(encrypted_footer)
    assert (info.encrypted, info.algorithm, info.plaintext_footer) == (True, "AES_GCM_V1", False)
    assert (info.footer_key, info.footer_key_version, info.key_material) == ("footer_key", 1, "internal")
    assert info.columns is None
    assert info.note is not None and "provider" in info.note

    full = describe(encrypted_footer, provider=HoldsOnly(ring, "footer_key"))
    assert full.keys() == {"pii_key": PII, "phi_key": PHI}
    assert {c.column: c.key_version for c in full.columns or ()} == {
        "id": None, "amount": None, "region": None, "name": 1, "email": 1, "diagnosis": 1,
    }  # fmt: skip
    assert full.double_wrapping is True

    signed = describe(write(tmp_path / "b.parquet", table, ring, plaintext_footer=True))
    assert signed.plaintext_footer is True
    assert signed.keys() == {"pii_key": PII, "phi_key": PHI}
    text = repr(signed.to_dict()) + repr(full)
    assert not any(secret.decode() in text for secret in SECRETS)

    plain = tmp_path / "plain.parquet"
    pq.write_table(table, plain)
    assert describe(plain).encrypted is False
    assert read_table(plain, ring).equals(table)


# -- writing ----------------------------------------------------------------------------------------
def test_open_writer_streams_record_batches(tmp_path: Path, ring: LocalKeyring, table: pa.Table) -> None:
    path = tmp_path / "stream.parquet"
    with open_writer(path, table.schema, plan(), ring) as writer:
        for batch in table.to_batches(max_chunksize=100):
            writer.write_batch(batch)
    assert pq.ParquetFile(path, decryption_properties=_properties(ring)).num_row_groups == 5
    assert read_table(path, ring).equals(table)


def test_plan_is_checked_before_anything_is_written(
    tmp_path: Path, ring: LocalKeyring, table: pa.Table
) -> None:
    with pytest.raises(OutputError, match=r"'ssn'.*not in the table"):
        write_table(table, tmp_path / "x.parquet", EncryptionPlan("footer_key", {"pii_key": ["ssn"]}), ring)
    with pytest.raises(OutputError, match="listed twice"):
        EncryptionPlan("footer_key", {"pii_key": ["name"], "phi_key": ["name"]})
    with pytest.raises(OutputError, match="splits on"):
        EncryptionPlan("footer_key", {"pii_key": ["a,b"]})
    with pytest.raises(KeyringError, match="not a key reference"):
        EncryptionPlan("footer key", {"pii_key": ["name"]})
    with pytest.raises(OutputError, match="names no column"):
        EncryptionPlan("footer_key", {})
    with pytest.raises(OutputError, match="cannot open the encrypted Parquet writer"):
        write_table(table, tmp_path / "missing" / "dir" / "z.parquet", plan(), ring)
    with pytest.raises(MasterKeyRefused, match="'pci_key'") as refused:
        write_table(table, tmp_path / "y.parquet", EncryptionPlan("footer_key", {"pci_key": ["name"]}), ring)
    assert "no key named 'pci_key'" in str(refused.value)
    assert not (tmp_path / "y.parquet").exists()


def test_a_file_without_rows_names_its_columns(tmp_path: Path, ring: LocalKeyring, table: pa.Table) -> None:
    path = write(tmp_path / "empty.parquet", table.slice(0, 0), ring)
    assert read_table(path, ring, columns=["id", "name"]).column_names == ["id", "name"]
    with pytest.raises(SourceError, match="column 'nosuch' is not in the file") as unknown:
        read_table(path, ring, columns=["nosuch"])
    assert "id, amount, region, name, email, diagnosis" in (unknown.value.hint or "")


def test_nested_column_names_cover_their_leaves(tmp_path: Path, ring: LocalKeyring) -> None:
    nested = pa.table(
        {"id": [1, 2], "person": [{"first": "NAMESECRETA", "age": 3}, {"first": "NAMESECRETB", "age": 4}]}
    )
    path = tmp_path / "nested.parquet"
    write_table(nested, path, EncryptionPlan("footer_key", {"pii_key": ["person"]}), ring, compression="none")
    assert describe(path, provider=ring).keys() == {"pii_key": ["person.first", "person.age"]}
    assert b"NAMESECRET" not in path.read_bytes()
    assert read_table(path, ring).equals(nested)


# -- rotation and rewrap ----------------------------------------------------------------------------
def test_rotation_keeps_old_files_readable_and_new_files_use_the_new_version(
    tmp_path: Path, ring: LocalKeyring, table: pa.Table
) -> None:
    before = write(tmp_path / "before.parquet", table, ring)
    for name in ("pii_key", "phi_key", "footer_key"):
        ring.rotate(name)
    after = write(tmp_path / "after.parquet", table, ring)

    assert read_table(before, ring).equals(table)
    assert read_table(after, ring).equals(table)
    old, new = describe(before, provider=ring), describe(after, provider=ring)
    assert {c.key_version for c in old.columns or () if c.key_ref} == {1}
    assert {c.key_version for c in new.columns or () if c.key_ref} == {2}
    assert (old.footer_key_version, new.footer_key_version) == (1, 2)


def test_pinned_reference_stays_on_its_version(tmp_path: Path, ring: LocalKeyring, table: pa.Table) -> None:
    ring.rotate("pii_key")
    path = tmp_path / "pinned.parquet"
    write_table(table, path, EncryptionPlan("footer_key", {"pii_key@1": PII}), ring)
    info = describe(path, provider=ring)
    assert info.keys() == {"pii_key@1": PII}
    assert {c.key_version for c in info.columns or () if c.key_ref} == {1}
    assert read_table(path, ring).equals(table)


def test_rewrap_external_key_material_without_touching_the_data(
    tmp_path: Path, ring: LocalKeyring, table: pa.Table
) -> None:
    path = write(tmp_path / "out.parquet", table, ring, external=True)
    sidecar = Path(key_material_path(path))
    assert sidecar == tmp_path / "_KEY_MATERIAL_FOR_out.parquet.json"
    assert describe(path).key_material == "external"
    data_before, material_before = path.read_bytes(), sidecar.read_bytes()
    for name in ("pii_key", "phi_key", "footer_key"):
        ring.rotate(name)

    info = rewrap(path, ring)

    assert path.read_bytes() == data_before
    assert sidecar.read_bytes() != material_before
    assert info.footer_key_version == 2
    assert {c.key_version for c in info.columns or () if c.key_ref} == {2}
    assert read_table(path, ring).equals(table)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [sidecar.name, "out.parquet"]


def test_rewrap_needs_every_key(tmp_path: Path, ring: LocalKeyring, table: pa.Table) -> None:
    path = write(tmp_path / "out.parquet", table, ring, external=True)
    material = Path(key_material_path(path)).read_bytes()
    with pytest.raises(MasterKeyRefused, match="phi_key"):
        rewrap(path, HoldsOnly(ring, "footer_key", "pii_key"))
    assert Path(key_material_path(path)).read_bytes() == material


def test_rewrap_of_internal_key_material_says_it_cannot(
    tmp_path: Path, ring: LocalKeyring, table: pa.Table
) -> None:
    path = write(tmp_path / "out.parquet", table, ring)
    with pytest.raises(RewrapUnsupported, match="internal key material") as refused:
        rewrap(path, ring)
    assert "rewrite" in str(refused.value)


def test_external_key_material_moves_with_a_renamed_file(
    tmp_path: Path, ring: LocalKeyring, table: pa.Table
) -> None:
    temp = write(tmp_path / ".out.parquet.tmp", table, ring, external=True)
    final = tmp_path / "out.parquet"
    temp.rename(final)
    with pytest.raises(SourceError, match=r"_KEY_MATERIAL_FOR_out\.parquet\.json, which is missing"):
        read_table(final, ring)
    Path(key_material_path(temp)).rename(key_material_path(final))
    assert read_table(final, ring).equals(table)


# -- corruption is not a missing key ----------------------------------------------------------------
def test_altered_ciphertext_is_corruption_not_a_missing_key(
    tmp_path: Path, ring: LocalKeyring, table: pa.Table
) -> None:
    path = tmp_path / "out.parquet"
    write_table(table.select(["name"]), path, EncryptionPlan("footer_key", {"pii_key": ["name"]}), ring)
    original = path.read_bytes()
    for offset in (30, 200):  # an encrypted page header, then page data, of the only column chunk
        data = bytearray(original)
        data[offset] ^= 0x01
        path.write_bytes(bytes(data))
        with pytest.raises(EncryptedDataCorrupt, match="altered") as corrupt:
            read_table(path, ring)
        assert not isinstance(corrupt.value, KeyringError)


def test_garbled_key_material_is_corruption(tmp_path: Path, ring: LocalKeyring, table: pa.Table) -> None:
    path = write(tmp_path / "out.parquet", table, ring, external=True)
    sidecar = Path(key_material_path(path))
    sidecar.write_text(sidecar.read_text().replace('wrappedKEK\\":\\"', 'wrappedKEK\\":\\"!!'))
    with pytest.raises(KeyMaterialCorrupt, match="not valid base64") as corrupt:
        read_table(path, ring)
    assert corrupt.value.where == str(path)
    sidecar.write_text("{not json")
    with pytest.raises(KeyMaterialCorrupt, match="PKMT1"):
        read_table(path, ring)


def test_kms_client_repr_and_errors_carry_no_key_material(ring: LocalKeyring) -> None:
    client = kms_client_factory(ring)(pe.KmsConnectionConfig())
    key = b"K" * 32
    wrapped = client.wrap_key(key, "pii_key")
    assert client.unwrap_key(wrapped, "pii_key") == key
    assert "LocalKeyring" in repr(client)
    with pytest.raises(MasterKeyRefused) as refused:
        client.unwrap_key(wrapped, "phi_key")
    assert wrapped not in str(refused.value)


# -- S3 ---------------------------------------------------------------------------------------------
@pytest.mark.s3
@pytest.mark.parametrize("external", [False, True])
def test_s3_round_trip_through_moto(
    s3_bucket: str, ring: LocalKeyring, table: pa.Table, external: bool
) -> None:
    path = f"s3://{s3_bucket}/outputs/patients.parquet"
    fs = locations.filesystem(path)
    write_table(table, path, plan(external=external), ring, compression="none", filesystem=fs)
    objects = sorted(fs.ls(f"{s3_bucket}/outputs"))
    expected = [f"{s3_bucket}/outputs/patients.parquet"]
    if external:
        expected.insert(0, key_material_path(expected[0]))
    assert objects == expected
    with fs.open(path, "rb") as handle:
        stored = handle.read()
    assert not any(secret in stored for secret in SECRETS)

    assert read_table(path, ring).equals(table)  # filesystem resolved from the URL
    with pytest.raises(ColumnKeyUnavailable, match="diagnosis"):
        read_table(path, HoldsOnly(ring, "footer_key", "pii_key"), filesystem=fs)
    assert describe(path, fs, provider=ring).keys() == {"pii_key": PII, "phi_key": PHI}
    if external:
        ring.rotate("phi_key")
        assert {c.key_version for c in rewrap(path, ring).columns or () if c.key_ref == "phi_key"} == {2}
        assert read_table(path, ring).equals(table)


def _properties(provider: Any) -> Any:
    return pe.CryptoFactory(kms_client_factory(provider)).file_decryption_properties(pe.KmsConnectionConfig())


def test_key_material_path_is_beside_the_file() -> None:
    assert key_material_path("s3://b/dir/x.parquet") == "s3://b/dir/_KEY_MATERIAL_FOR_x.parquet.json"
    assert key_material_path("x.parquet") == "_KEY_MATERIAL_FOR_x.parquet.json"


def test_encrypted_columns_carry_no_min_max_statistics(tmp_path: Path, keyring: LocalKeyring) -> None:
    # A column's min/max are values of it (the oldest birth date is someone's): only plain columns keep them.
    for name in ("stats_footer", "stats_pii"):
        keyring.create(name)
    table = pa.table({"id": [3, 1, 2], "email": ["c@x.org", "a@x.org", "b@x.org"]})
    path = tmp_path / "stats.parquet"
    write_table(table, path, EncryptionPlan("stats_footer", {"stats_pii": ["email"]}), keyring)
    properties = pe.CryptoFactory(kms_client_factory(keyring)).file_decryption_properties(
        pe.KmsConnectionConfig(), pe.DecryptionConfiguration()
    )
    row_group = pq.ParquetFile(path, decryption_properties=properties).metadata.row_group(0)
    stats = {row_group.column(i).path_in_schema: row_group.column(i).is_stats_set for i in range(2)}
    assert stats == {"id": True, "email": False}


def test_only_the_named_columns_are_dictionary_encoded(
    tmp_path: Path, ring: LocalKeyring, table: pa.Table
) -> None:
    path = tmp_path / "dictionary.parquet"
    with open_writer(path, table.schema, plan(), ring, dictionary=["region", "diagnosis"]) as writer:
        writer.write_table(table)
    row_group = pq.ParquetFile(path, decryption_properties=_properties(ring)).metadata.row_group(0)
    columns = [row_group.column(i) for i in range(row_group.num_columns)]
    dictionary = {c.path_in_schema for c in columns if "RLE_DICTIONARY" in c.encodings}
    assert dictionary == {"region", "diagnosis"}  # one plain, one encrypted
    assert read_table(path, ring).equals(table)


# -- AWS KMS master keys (moto): versions read from VLA1 envelopes, refusals keep KMS's own fix ------
@pytest.fixture
def aws_kms(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    from vaultline.keys.aws_kms import KMS_ENDPOINT_ENV, AwsKmsProvider
    from vaultline.keys.principal import ROLES_ENV

    monkeypatch.setenv(KMS_ENDPOINT_ENV, moto_server)
    monkeypatch.delenv(ROLES_ENV, raising=False)
    return AwsKmsProvider()


def kms_plan(provider: Any) -> EncryptionPlan:
    """Fresh key names for every test: the moto server lives for the whole session."""
    suffix = secrets.token_hex(4)
    footer, pii, phi = (f"{kind}_{suffix}" for kind in ("footer", "pii", "phi"))
    for name in (footer, pii, phi):
        provider.create(name)
    return EncryptionPlan(footer, {pii: PII, phi: PHI})


def calls_on(name: str) -> Callable[[dict[str, Any]], bool]:
    """KMS calls on key `name`: DescribeKey on its alias, Decrypt on a version's (`.../NAME/vN`)."""
    return lambda params: str(params.get("KeyId", "")).startswith(f"alias/vaultline/{name}")


@pytest.mark.s3
def test_describe_reads_the_versions_of_keys_wrapped_by_aws_kms(
    tmp_path: Path, table: pa.Table, aws_kms: Any
) -> None:
    layout = kms_plan(aws_kms)
    pii, _ = layout.column_keys
    aws_kms.rotate(pii)
    path = tmp_path / "kms.parquet"
    write_table(table, path, layout, aws_kms)
    assert describe(path).footer_key_version == 1  # no key needed: the VLA1 header carries it
    info = describe(path, provider=aws_kms)
    assert info.footer_key_version == 1
    assert {c.column: c.key_version for c in info.columns or () if c.key_ref} == {
        "name": 2, "email": 2, "diagnosis": 1,
    }  # fmt: skip


@pytest.mark.s3
def test_a_disabled_kms_key_on_write_keeps_the_providers_fix(
    tmp_path: Path, table: pa.Table, aws_kms: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = kms_plan(aws_kms)
    fail_kms(monkeypatch, "Encrypt", "DisabledException")
    with pytest.raises(MasterKeyRefused, match="disabled or pending deletion") as refused:
        write_table(table, tmp_path / "kms.parquet", layout, aws_kms)
    assert "enable the key" in (refused.value.hint or "")
    assert "check that the keyring holds" not in (refused.value.hint or "")


@pytest.mark.s3
@pytest.mark.parametrize(
    ("operation", "code", "fix"),
    [
        ("Decrypt", "DisabledException", "enable the key"),
        ("DescribeKey", "AccessDeniedException", "grant the caller kms:DescribeKey"),
    ],
)
def test_a_refused_kms_footer_key_keeps_the_providers_fix_and_shows_its_version(
    tmp_path: Path,
    table: pa.Table,
    aws_kms: Any,
    monkeypatch: pytest.MonkeyPatch,
    operation: str,
    code: str,
    fix: str,
) -> None:
    layout = kms_plan(aws_kms)
    path = tmp_path / "kms.parquet"
    write_table(table, path, layout, aws_kms)
    fail_kms(monkeypatch, operation, code, when=calls_on(layout.footer_key))
    with pytest.raises(FooterKeyUnavailable) as refused:
        read_table(path, aws_kms)
    assert f"'{layout.footer_key} (v1)'" in refused.value.message and code in refused.value.message
    assert fix in (refused.value.hint or "") and "ask for access" not in (refused.value.hint or "")


@pytest.mark.s3
def test_a_disabled_kms_column_key_keeps_the_providers_fix(
    tmp_path: Path, table: pa.Table, aws_kms: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = kms_plan(aws_kms)
    _, phi = layout.column_keys
    path = tmp_path / "kms.parquet"
    write_table(table, path, layout, aws_kms)
    fail_kms(monkeypatch, "Decrypt", "DisabledException", when=calls_on(phi))
    with pytest.raises(ColumnKeyUnavailable) as refused:
        read_table(path, aws_kms)
    assert refused.value.columns == {"diagnosis": phi}
    hint = refused.value.hint or ""
    assert "enable the key" in hint and "ask for access" not in hint
    assert hint.endswith(": id, amount, region, name, email")  # the columns that can still be read
    assert read_table(path, aws_kms, columns=PLAIN + PII).equals(table.select(PLAIN + PII))
