"""HealthPlus patient admissions: `OUT/raw/patients.csv` and `OUT/labels/patients_labels.csv`.

One row per admission, one admission per patient (patient_id and mrn are unique except in injected
duplicates). Columns, all written as text:

=================== ===========================================================================
patient_id          `P` + 9 digits (`P048213377`)
first_name          from Faker's en_US first names, by gender
last_name           from Faker's en_US last names
date_of_birth       `YYYY-MM-DD`; about 3% of patients are 90 or older at admission
gender              `F`, `M` or `X`; about 2% lower case (`f`, `m`, `x`)
email               `first.last42@example.com`-style, reserved example domains only
phone               `AAA-555-01NN` (the fictional 555-01xx range)
street_address      `4821 Hansen Plaza`, some with ` Apt 12`
city                a Faker city
state               two-letter state code (consistent with the ZIP's first three digits)
zip                 5 digits with leading zeros kept (`02134`); about 8% ZIP+4 (`02134-4410`);
                    at least 1.5% in restricted ZIP3 areas (`036xx`, `059xx`, `102xx`, ...)
country             `US`
ssn                 `NNN-NN-NNNN`, area 001-899 except 666, group 01-99, serial 0001-9999
mrn                 `MRN-` + 8 digits (`MRN-00012345`)
insurance_member_id payer prefix + 9 digits (`UHC482913370`)
condition_code      real ICD-10-CM codes: the 12 of examples/healthplus/conditions.csv and 8 others
condition_name      the code's ICD-10-CM description (some contain commas, so they are quoted)
admission_date      `YYYY-MM-DD`, 2019-01-01 .. 2024-12-31
discharge_date      `YYYY-MM-DD`, 1 to 60 days after admission
provider_npi        10 digits with a valid check digit (Luhn over `80840` + the first nine)
billed_amount       dollars with exactly two decimals (`18234.07`)
=================== ===========================================================================

Dirty rows (see `vaultline.demo`): bad_date (in date_of_birth, admission_date or discharge_date),
negative_amount (billed_amount), malformed_email, duplicate (an exact copy of the previous row), ragged_line
(billed_amount written as `12,345.67` without quotes: one extra field). The labels file lists only the
dirty rows: `row` (0-based data record, the engine's row id), `patient_id`, `dirty_reason`,
`dirty_column`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from vaultline.demo._common import (
    BAD_DATES,
    DEFAULT_CHUNK_ROWS,
    DIRTY_KINDS,
    ChunkedCsv,
    DirtyPlan,
    GeneratedDataset,
    IntArray,
    PeoplePools,
    blocks,
    check_args,
    duplicate_sources,
    email_expr,
    malformed_emails,
    money,
    money_with_separator,
    npi_numbers,
    padded,
    people_pools,
    pick,
    place_dirty,
    plan_dirty,
    ragged_column,
    reason_columns,
    rng_for,
    scatter_text,
)

NAME = "patients"
STREAM = 1
COLUMNS: tuple[str, ...] = (
    "patient_id",
    "first_name",
    "last_name",
    "date_of_birth",
    "gender",
    "email",
    "phone",
    "street_address",
    "city",
    "state",
    "zip",
    "country",
    "ssn",
    "mrn",
    "insurance_member_id",
    "condition_code",
    "condition_name",
    "admission_date",
    "discharge_date",
    "provider_npi",
    "billed_amount",
)
LABEL_COLUMNS: tuple[str, ...] = ("row", "patient_id", "dirty_reason", "dirty_column")
SENSITIVE_COLUMNS: tuple[str, ...] = (
    "patient_id",
    "first_name",
    "last_name",
    "date_of_birth",
    "email",
    "phone",
    "street_address",
    "city",
    "ssn",
    "mrn",
    "insurance_member_id",
)
"""Direct identifiers. zip is left out: ZIP3 generalization keeps its first three digits, and a 5-digit
number is too likely to occur by chance inside a hash or count in a report for a leak scan to use it."""

DATE_COLUMNS: tuple[str, ...] = ("date_of_birth", "admission_date", "discharge_date")

CONDITIONS: tuple[tuple[str, str, float], ...] = (
    ("E11.9", "Type 2 diabetes mellitus without complications", 9),
    ("E78.5", "Hyperlipidemia, unspecified", 6),
    ("I10", "Essential (primary) hypertension", 12),
    ("I25.10", "Atherosclerotic heart disease of native coronary artery without angina pectoris", 5),
    ("I50.9", "Heart failure, unspecified", 6),
    ("J44.9", "Chronic obstructive pulmonary disease, unspecified", 6),
    ("J45.909", "Unspecified asthma, uncomplicated", 5),
    ("J18.9", "Pneumonia, unspecified organism", 7),
    ("N18.3", "Chronic kidney disease, stage 3 (moderate)", 4),
    ("F32.9", "Major depressive disorder, single episode, unspecified", 5),
    ("M54.5", "Low back pain", 5),
    ("K21.9", "Gastro-esophageal reflux disease without esophagitis", 5),
    # not in the example's mapping file: they exercise its `unknown` row
    ("N39.0", "Urinary tract infection, site not specified", 4),
    ("A41.9", "Sepsis, unspecified organism", 3),
    ("I48.91", "Unspecified atrial fibrillation", 4),
    ("R07.9", "Chest pain, unspecified", 4),
    (
        "S72.001A",
        "Fracture of unspecified part of neck of right femur, initial encounter for closed fracture",
        2,
    ),
    ("G43.909", "Migraine, unspecified, not intractable, without status migrainosus", 2),
    ("K35.80", "Unspecified acute appendicitis", 2),
    ("U07.1", "COVID-19", 3),
)

RESTRICTED: tuple[tuple[int, str], ...] = (
    (36, "NH"),
    (59, "VT"),
    (63, "CT"),
    (102, "NY"),
    (203, "DC"),
    (556, "MN"),
    (692, "NE"),
    (790, "TX"),
    (821, "WY"),
    (823, "WY"),
    (830, "WY"),
    (831, "WY"),
    (878, "NM"),
    (879, "NM"),
    (884, "NM"),
    (890, "NV"),
    (893, "NV"),
)
"""ZIP3 areas of 20,000 people or fewer (HIPAA Safe Harbor), with their state."""

PAYERS: tuple[str, ...] = ("UHC", "AET", "CGN", "HUM", "BCB", "KPS", "MCR", "MCD", "HPX", "MOL")

_ADMIT_FIRST = int(np.datetime64("2019-01-01", "D").astype(np.int64))
_ADMIT_LAST = int(np.datetime64("2024-12-31", "D").astype(np.int64))
_PATIENT_A, _MRN_A = 387_420_489, 48_828_125 + 2  # multipliers coprime to 10: affine permutations
_BLOCKS, _CONSTANTS = 2, 3  # purposes of random streams


def generate_healthplus(
    rows: int, out_dir: Path, seed: int = 7, *, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> GeneratedDataset:
    """Write `rows` patient admissions to OUT/raw/patients.csv and the dirty rows' ground truth to
    OUT/labels/patients_labels.csv. Same (rows, seed): byte-identical files, whatever `chunk_rows`.

    The row count includes the dirty rows: a duplicate replaces a row (it repeats the row before it),
    it does not add one.
    """
    check_args(rows, seed, chunk_rows)
    out_dir = Path(out_dir)
    data_path = out_dir / "raw" / f"{NAME}.csv"
    labels_path = out_dir / "labels" / f"{NAME}_labels.csv"
    pools = people_pools(seed)
    constants = rng_for(seed, STREAM, _CONSTANTS)
    npis = padded(npi_numbers(constants, 400), 10)
    offsets = constants.integers(0, 10**8, size=2)
    plan = plan_dirty(rows, seed, STREAM)
    counts = dict.fromkeys(DIRTY_KINDS, 0)
    labels: list[pl.DataFrame] = []
    with ChunkedCsv(data_path, COLUMNS, chunk_rows, ragged_field="billed_amount") as data:
        for block, start, n in blocks(rows):
            frame, label = _block(
                pools=pools, npis=npis, offsets=offsets, plan=plan, seed=seed, block=block, start=start, n=n
            )
            data.add(frame)
            labels.append(label)
    label_frame = pl.concat(labels, how="vertical")
    for kind, count in label_frame.get_column("dirty_reason").value_counts().iter_rows():
        counts[kind] = count
    with ChunkedCsv(labels_path, LABEL_COLUMNS, chunk_rows) as out:
        out.add(label_frame)
    return GeneratedDataset(
        data_path=data_path,
        labels_path=labels_path,
        rows=rows,
        dirty_rows=counts,
        sensitive_columns=list(SENSITIVE_COLUMNS),
    )


def _block(
    *,
    pools: PeoplePools,
    npis: pl.Series,
    offsets: IntArray,
    plan: DirtyPlan,
    seed: int,
    block: int,
    start: int,
    n: int,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = rng_for(seed, STREAM, _BLOCKS, block)
    index = np.arange(start, start + n, dtype=np.int64)

    gender = pick(rng, [50.5, 48.5, 1.0], n)  # F, M, X
    n_female, n_male = pools.first_female.len(), pools.first_male.len()
    first_any = rng.integers(0, n_female + n_male, size=n)
    first = np.where(
        gender == 0,
        rng.integers(0, n_female, size=n),
        np.where(gender == 1, n_female + rng.integers(0, n_male, size=n), first_any),
    )
    admission = rng.integers(_ADMIT_FIRST, _ADMIT_LAST + 1, size=n)
    age = np.clip(np.rint(rng.normal(52, 21, size=n)), 0, 104).astype(np.int64)
    birth = admission - np.floor(age * 365.2425 + rng.uniform(1, 365, size=n)).astype(np.int64)
    stay = np.minimum(rng.geometric(0.22, size=n), 60)
    daily = rng.lognormal(np.log(2600), 0.6, size=n)
    cents = np.rint((daily * stay + rng.lognormal(np.log(900), 0.5, size=n)) * 100).astype(np.int64)

    location = rng.integers(0, pools.cities.len(), size=n)
    zip3 = pools.zip3[location]
    restricted = rng.random(n) < 0.015
    restricted_pick = rng.integers(0, len(RESTRICTED), size=n)
    zip3 = np.where(restricted, np.array([z for z, _ in RESTRICTED])[restricted_pick], zip3)
    plus4 = np.where(rng.random(n) < 0.08, rng.integers(1, 10_000, size=n), -1)

    area = rng.integers(1, 900, size=n)
    area = np.where(area == 666, 667, area)
    phone_area = rng.integers(201, 990, size=n)
    phone_area = np.where(phone_area % 100 == 11, phone_area + 1, phone_area)  # no N11 area codes
    numeric: dict[str, npt.NDArray[Any]] = {
        "index": index,
        "gender": gender,
        "lower_gender": (rng.random(n) < 0.02).astype(np.int64),
        "first": first,
        "last": rng.integers(0, pools.last.len(), size=n),
        "email_style": rng.integers(0, 6, size=n),
        "email_number": np.where(rng.random(n) < 0.5, rng.integers(1, 100, size=n), -1),
        "domain": rng.integers(0, pools.email_domains.len(), size=n),
        "phone_area": phone_area,
        "phone_line": rng.integers(0, 100, size=n),
        "building": rng.integers(1, 10_000, size=n),
        "street": rng.integers(0, pools.street_names.len(), size=n),
        "suffix": rng.integers(0, pools.street_suffixes.len(), size=n),
        "apartment": np.where(rng.random(n) < 0.08, rng.integers(1, 1000, size=n), -1),
        "location": location,
        "restricted": np.where(restricted, restricted_pick, -1),
        "zip3": zip3,
        "zip2": rng.integers(0, 100, size=n),
        "plus4": plus4,
        "ssn_area": area,
        "ssn_group": rng.integers(1, 100, size=n),
        "ssn_serial": rng.integers(1, 10_000, size=n),
        "payer": rng.integers(0, len(PAYERS), size=n),
        "member": rng.integers(0, 10**9, size=n),
        "condition": pick(rng, [w for _, _, w in CONDITIONS], n),
        "birth": birth,
        "admission": admission,
        "discharge": admission + stay,
        "npi": rng.integers(0, npis.len(), size=n),
        "cents": cents,
    }

    planned = place_dirty(plan.in_block(start, n), n)
    source = duplicate_sources(n, planned["duplicate"])
    numeric = {name: np.asarray(values)[source] for name, values in numeric.items()}
    negative = planned["negative_amount"]
    numeric["cents"][negative] = -numeric["cents"][negative]
    ragged = planned["ragged_line"]
    numeric["cents"][ragged] = np.maximum(numeric["cents"][ragged], numeric["cents"][ragged] + 100_000)

    frame = _frame(pools, npis, offsets, pl.DataFrame(numeric))

    bad = planned["bad_date"]
    bad_columns = [DATE_COLUMNS[i] for i in rng.integers(0, len(DATE_COLUMNS), size=len(bad))]
    bad_values = [BAD_DATES[i] for i in rng.integers(0, len(BAD_DATES), size=len(bad))]
    for column in DATE_COLUMNS:
        mask = np.array([c == column for c in bad_columns], dtype=np.bool_)
        frame = scatter_text(
            frame, column, bad[mask], [v for v, m in zip(bad_values, mask, strict=True) if m]
        )
    emails = planned["malformed_email"]
    broken = malformed_emails(frame.get_column("email").gather(emails).to_list(), rng)
    frame = scatter_text(frame, "email", emails, broken)
    raw_amounts = [money_with_separator(int(c)) for c in numeric["cents"][ragged]]
    frame = frame.with_columns(ragged_column(n, ragged, raw_amounts))

    reasons = reason_columns(
        n,
        planned,
        {
            "bad_date": bad_columns,
            "negative_amount": ["billed_amount"] * len(negative),
            "malformed_email": ["email"] * len(emails),
        },
    )
    label = pl.concat(
        [pl.DataFrame({"row": index}), frame.select("patient_id"), reasons], how="horizontal"
    ).filter(pl.col("dirty_reason").is_not_null())
    return frame, label


def _frame(pools: PeoplePools, npis: pl.Series, offsets: IntArray, numeric: pl.DataFrame) -> pl.DataFrame:
    """The text columns, in file order, from the per-row numbers and the pools."""
    first_names = pl.concat([pools.first_female, pools.first_male])
    restricted_states = pl.Series([s for _, s in RESTRICTED])
    restricted = numeric.get_column("restricted")
    gathered = numeric.with_columns(
        first_names.gather(numeric.get_column("first")).alias("first_name"),
        pools.last.gather(numeric.get_column("last")).alias("last_name"),
        first_names.str.to_lowercase().gather(numeric.get_column("first")).alias("first_lower"),
        pools.last.str.to_lowercase().gather(numeric.get_column("last")).alias("last_lower"),
        pools.email_domains.gather(numeric.get_column("domain")).alias("domain_name"),
        pools.street_names.gather(numeric.get_column("street")).alias("street_name"),
        pools.street_suffixes.gather(numeric.get_column("suffix")).alias("street_suffix"),
        pools.cities.gather(numeric.get_column("location")).alias("city"),
        pools.states.gather(numeric.get_column("location")).alias("pool_state"),
        restricted_states.gather(restricted.clip(0, None)).alias("restricted_state"),
        npis.gather(numeric.get_column("npi")).alias("provider_npi"),
        pl.Series("condition_code", [c for c, _, _ in CONDITIONS]).gather(numeric.get_column("condition")),
        pl.Series("condition_name", [d for _, d, _ in CONDITIONS]).gather(numeric.get_column("condition")),
        pl.Series("payer_code", list(PAYERS)).gather(numeric.get_column("payer")),
    )
    patient_number = (pl.col("index") * _PATIENT_A + int(offsets[0])) % 10**9
    mrn_number = (pl.col("index") * _MRN_A + int(offsets[1])) % 10**8
    gender = (
        pl.when(pl.col("gender") == 0)
        .then(pl.lit("F"))
        .when(pl.col("gender") == 1)
        .then(pl.lit("M"))
        .otherwise(pl.lit("X"))
    )
    zip5 = pl.concat_str(
        pl.col("zip3").cast(pl.String).str.zfill(3), pl.col("zip2").cast(pl.String).str.zfill(2)
    )
    apartment = pl.when(pl.col("apartment") > 0).then(pl.format(" Apt {}", pl.col("apartment")))
    return gathered.select(
        pl.concat_str(pl.lit("P"), patient_number.cast(pl.String).str.zfill(9)).alias("patient_id"),
        "first_name",
        "last_name",
        pl.col("birth").cast(pl.Int32).cast(pl.Date).cast(pl.String).alias("date_of_birth"),
        pl.when(pl.col("lower_gender") == 1)
        .then(gender.str.to_lowercase())
        .otherwise(gender)
        .alias("gender"),
        email_expr(
            pl.col("first_lower"),
            pl.col("last_lower"),
            pl.col("email_style"),
            pl.col("email_number"),
            pl.col("domain_name"),
        ).alias("email"),
        pl.format(
            "{}-555-01{}", pl.col("phone_area"), pl.col("phone_line").cast(pl.String).str.zfill(2)
        ).alias("phone"),
        pl.concat_str(
            pl.col("building").cast(pl.String),
            pl.lit(" "),
            pl.col("street_name"),
            pl.lit(" "),
            pl.col("street_suffix"),
            apartment.otherwise(pl.lit("")),
        ).alias("street_address"),
        "city",
        pl.when(pl.col("restricted") >= 0)
        .then(pl.col("restricted_state"))
        .otherwise(pl.col("pool_state"))
        .alias("state"),
        pl.when(pl.col("plus4") > 0)
        .then(pl.concat_str(zip5, pl.lit("-"), pl.col("plus4").cast(pl.String).str.zfill(4)))
        .otherwise(zip5)
        .alias("zip"),
        pl.lit("US").alias("country"),
        pl.format(
            "{}-{}-{}",
            pl.col("ssn_area").cast(pl.String).str.zfill(3),
            pl.col("ssn_group").cast(pl.String).str.zfill(2),
            pl.col("ssn_serial").cast(pl.String).str.zfill(4),
        ).alias("ssn"),
        pl.concat_str(pl.lit("MRN-"), mrn_number.cast(pl.String).str.zfill(8)).alias("mrn"),
        pl.concat_str(pl.col("payer_code"), pl.col("member").cast(pl.String).str.zfill(9)).alias(
            "insurance_member_id"
        ),
        "condition_code",
        "condition_name",
        pl.col("admission").cast(pl.Int32).cast(pl.Date).cast(pl.String).alias("admission_date"),
        pl.col("discharge").cast(pl.Int32).cast(pl.Date).cast(pl.String).alias("discharge_date"),
        "provider_npi",
        money(pl.col("cents")).alias("billed_amount"),
    )
