"""Card transactions for the fraud example: OUT/raw/transactions.csv, OUT/labels/transactions_labels.csv.

Rows are in time order (timestamps never decrease), spread over 182 days from 2024-01-01 whatever the
row count, by about `rows / 40` customers of very unequal activity, so per-customer time deltas and
velocity mean something. A customer keeps one account, card, email, home device and home IP (a few
transactions come from another device or IP, or abroad). Columns, all written as text:

=============== ==================================================================================
transaction_id  `T` + 12 digits, increasing with the row (`T004817263001`)
customer_id     10 digits with leading zeros (`0048213377`)
account_number  16 digits; about a quarter start with `0`
card_number     16 digits, Luhn-valid, Visa (`4`) or Mastercard (`51`-`55`) 6-digit BINs
email           `first.last42@example.com`-style, reserved example domains only
ip_address      dotted IPv4 outside private and reserved ranges
device_id       lowercase UUID version 4 (`8-4-4-4-12`)
amount          long-tailed (lognormal per MCC), exactly two decimals (`23.07`)
currency        ISO 4217 of the transaction's country; about 0.5% lower case (`usd`)
mcc             4-digit merchant category code (5411, 5812, 5814, 5541, 5912, ... and rare
                high-risk ones such as 7995, 6051, 5933, 4829, 5967)
merchant_name   invented (`Hansen Market`, `Price, Ortiz and Lee Grill`: some need quoting)
timestamp       `YYYY-MM-DD HH:MM:SS`
country         ISO 3166 alpha-2 (`US`, `CA`, `GB`, ...)
=============== ==================================================================================

Anomalies, about 0.8% of the rows, are in the labels file only: `amount_spike` (an amount far in the
tail), `unusual_mcc` (a high-risk category with a large amount), `velocity_burst` (6 to 12 purchases by
one customer within minutes, from a new device and IP) and `card_testing` (8 to 15 tiny amounts at one
merchant within a few minutes). Dirty rows (see `vaultline.demo`): bad_date (timestamp),
negative_amount, malformed_email, duplicate (an exact copy of the previous row, same transaction_id),
ragged_line (merchant_name written unquoted with a comma: one extra field); they are never anomalies.

The labels file has one line per data row: `row` (0-based data record, the engine's row id),
`transaction_id`, `is_anomaly` (`true`/`false`), `anomaly_kind`, `dirty_reason`, `dirty_column` (empty
when not applicable). Join on `row`: a duplicate shares its transaction_id with the row before it.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    digits_to_int,
    duplicate_sources,
    email_expr,
    luhn_check_digits,
    malformed_emails,
    money,
    padded,
    people_pools,
    pick,
    place_dirty,
    plan_dirty,
    ragged_column,
    reason_columns,
    rng_for,
    scatter_text,
    uuid4_text,
)

NAME = "transactions"
STREAM = 2
COLUMNS: tuple[str, ...] = (
    "transaction_id",
    "customer_id",
    "account_number",
    "card_number",
    "email",
    "ip_address",
    "device_id",
    "amount",
    "currency",
    "mcc",
    "merchant_name",
    "timestamp",
    "country",
)
LABEL_COLUMNS: tuple[str, ...] = (
    "row",
    "transaction_id",
    "is_anomaly",
    "anomaly_kind",
    "dirty_reason",
    "dirty_column",
)
SENSITIVE_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "account_number",
    "card_number",
    "email",
    "ip_address",
    "device_id",
)
ANOMALY_KINDS: tuple[str, ...] = ("amount_spike", "unusual_mcc", "velocity_burst", "card_testing")

START = int(np.datetime64("2024-01-01T00:00:00", "s").astype(np.int64))
SPAN_SECONDS = 182 * 86_400
ROWS_PER_CUSTOMER = 40

# mcc, share of normal volume, median amount (USD), lognormal sigma, merchant name endings
NORMAL_MCC: tuple[tuple[str, float, float, float, tuple[str, ...]], ...] = (
    ("5411", 22, 48, 0.8, ("Market", "Grocers", "Foods", "Supermarket")),
    ("5812", 14, 34, 0.7, ("Grill", "Bistro", "Kitchen", "Cafe", "Tavern")),
    ("5814", 12, 11, 0.5, ("Burgers", "Tacos", "Express", "Pizza")),
    ("5541", 9, 42, 0.4, ("Fuel", "Gas", "Petroleum")),
    ("5912", 6, 24, 0.8, ("Pharmacy", "Drugs")),
    ("5311", 5, 70, 0.9, ("Department Store", "Stores")),
    ("5999", 6, 40, 1.0, ("Supply", "Goods", "Outlet")),
    ("4121", 5, 21, 0.6, ("Rides", "Cab Co", "Transit")),
    ("5732", 3, 160, 1.0, ("Electronics", "Tech")),
    ("4814", 3, 65, 0.3, ("Wireless", "Telecom")),
    ("7011", 2, 210, 0.6, ("Hotel", "Inn", "Suites")),
    ("4511", 1.5, 340, 0.6, ("Airlines", "Air")),
    ("5691", 4, 75, 0.8, ("Apparel", "Clothiers")),
    ("4900", 3, 110, 0.5, ("Utilities", "Power & Light")),
    ("5942", 1.5, 25, 0.6, ("Books", "Booksellers")),
    ("7832", 2, 28, 0.5, ("Cinemas", "Theaters")),
    ("5300", 3, 95, 0.8, ("Wholesale Club", "Warehouse")),
)
HIGH_RISK_MCC: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("7995", ("Gaming", "Sportsbook")),
    ("6051", ("Crypto Exchange", "Digital Assets")),
    ("5933", ("Pawn", "Pawnbrokers")),
    ("4829", ("Money Transfer", "Wire Services")),
    ("5967", ("Direct Marketing", "Subscriptions")),
)
HIGH_RISK_SHARE = 0.002
"""Share of normal (unlabelled) volume in high-risk categories: an MCC alone does not reveal an anomaly."""

BURST_MCC = ("5732", "5999", "5311", "5691")
CARD_TESTING_MCC = "5999"

COUNTRIES: tuple[tuple[str, str, float, float], ...] = (
    # code, currency, share of customers living there, share of travel destinations
    ("US", "USD", 93, 20),
    ("CA", "CAD", 3, 15),
    ("GB", "GBP", 2, 15),
    ("MX", "MXN", 1, 15),
    ("DE", "EUR", 1, 10),
    ("FR", "EUR", 0, 10),
    ("ES", "EUR", 0, 5),
    ("IT", "EUR", 0, 5),
    ("JP", "JPY", 0, 5),
)

_EXCLUDED_FIRST_OCTETS = {0, 10, 100, 127, 169, 172, 192, 198, 203}
_FIRST_OCTETS = np.array([o for o in range(1, 224) if o not in _EXCLUDED_FIRST_OCTETS], dtype=np.int64)
_CUSTOMER_A = 387_420_489  # coprime to 10: an affine permutation of customer numbers
_CUSTOMERS, _MERCHANTS, _BLOCKS, _IDS = 3, 4, 2, 5  # purposes of random streams
_NONE, _SPIKE, _UNUSUAL, _BURST, _TESTING = range(5)


@dataclass(frozen=True)
class _Customers:
    table: pl.DataFrame
    """customer_id, account_number, card_number, email, home_device, home_ip."""
    lookup: IntArray
    """Customers drawn by activity: a uniform index into this table (see `_lookup`)."""
    home: IntArray
    """Index into COUNTRIES."""


@dataclass(frozen=True)
class _Merchants:
    names: pl.Series
    mcc: IntArray
    """Index into NORMAL_MCC, or len(NORMAL_MCC) + index into HIGH_RISK_MCC."""
    lookup: IntArray
    """Merchants of normal traffic, drawn by weight: a uniform index into this table."""


def generate_fraud(
    rows: int, out_dir: Path, seed: int = 11, *, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> GeneratedDataset:
    """Write `rows` card transactions to OUT/raw/transactions.csv and one label line per row to
    OUT/labels/transactions_labels.csv. Same (rows, seed): byte-identical files, whatever `chunk_rows`.

    The row count includes the dirty rows: a duplicate replaces a row (it repeats the row before it),
    it does not add one.
    """
    check_args(rows, seed, chunk_rows)
    out_dir = Path(out_dir)
    data_path = out_dir / "raw" / f"{NAME}.csv"
    labels_path = out_dir / "labels" / f"{NAME}_labels.csv"
    pools = people_pools(seed)
    customers = _customers(pools, seed, max(20, -(-rows // ROWS_PER_CUSTOMER)))
    merchants = _merchants(pools, seed)
    plan = plan_dirty(rows, seed, STREAM)
    first_id = int(rng_for(seed, STREAM, _IDS).integers(10**9, 10**11))
    dirty = dict.fromkeys(DIRTY_KINDS, 0)
    anomalies = np.zeros(len(ANOMALY_KINDS) + 1, dtype=np.int64)
    with (
        ChunkedCsv(data_path, COLUMNS, chunk_rows, ragged_field="merchant_name") as data,
        ChunkedCsv(labels_path, LABEL_COLUMNS, chunk_rows) as labels,
    ):
        for block, start, n in blocks(rows):
            frame, label, kinds, placed = _block(
                customers=customers,
                merchants=merchants,
                plan=plan,
                seed=seed,
                rows=rows,
                first_id=first_id,
                block=block,
                start=start,
                n=n,
            )
            data.add(frame)
            labels.add(label)
            anomalies += np.bincount(kinds, minlength=len(anomalies))
            for kind, positions in placed.items():
                dirty[kind] += len(positions)
    return GeneratedDataset(
        data_path=data_path,
        labels_path=labels_path,
        rows=rows,
        dirty_rows=dirty,
        sensitive_columns=list(SENSITIVE_COLUMNS),
        anomaly_rows={kind: int(anomalies[i + 1]) for i, kind in enumerate(ANOMALY_KINDS)},
    )


# ---------------------------------------------------------------------------------- fixed tables


def _customers(pools: PeoplePools, seed: int, count: int) -> _Customers:
    rng = rng_for(seed, STREAM, _CUSTOMERS)
    index = np.arange(count, dtype=np.int64)
    offset = int(rng.integers(0, 10**8))
    female = rng.random(count) < 0.5
    first = pl.concat([pools.first_female, pools.first_male]).gather(
        np.where(
            female,
            rng.integers(0, pools.first_female.len(), size=count),
            pools.first_female.len() + rng.integers(0, pools.first_male.len(), size=count),
        )
    )
    leading = np.where(rng.random(count) < 0.25, 0, rng.integers(1, 10, size=count))
    account = leading * 10**15 + rng.integers(0, 10**15, size=count)
    bins = _bins(rng)
    payload = np.concatenate(
        [bins[rng.integers(0, len(bins), size=count)], rng.integers(0, 10, size=(count, 9))], axis=1
    )
    card = digits_to_int(payload) * 10 + luhn_check_digits(payload)
    numbers = pl.DataFrame(
        {
            "customer_number": (index * _CUSTOMER_A + offset) % 10**8,
            "first_name": first,
            "last_name": pools.last.gather(rng.integers(0, pools.last.len(), size=count)),
            "style": rng.integers(0, 6, size=count),
            "number": np.where(rng.random(count) < 0.5, rng.integers(1, 100, size=count), -1),
            "domain": pools.email_domains.gather(rng.integers(0, pools.email_domains.len(), size=count)),
            "home_device": uuid4_text(rng, count),
            "home_ip": _ips(rng, count),
        }
    )
    table = numbers.select(
        pl.col("customer_number").cast(pl.String).str.zfill(10).alias("customer_id"),
        padded(account, 16).alias("account_number"),
        padded(card, 16).alias("card_number"),
        email_expr(
            pl.col("first_name").str.to_lowercase(),
            pl.col("last_name").str.to_lowercase(),
            pl.col("style"),
            pl.col("number"),
            pl.col("domain"),
        ).alias("email"),
        "home_device",
        "home_ip",
    )
    weights = rng.lognormal(0, 1, size=count)
    home = pick(rng, [share for _, _, share, _ in COUNTRIES], count)
    return _Customers(table=table, lookup=_lookup(weights), home=home)


def _bins(rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """100 six-digit issuer prefixes as digit rows: 60 Visa (4xxxxx), 40 Mastercard (51xxxx-55xxxx)."""
    visa = np.concatenate([np.full((60, 1), 4), rng.integers(0, 10, size=(60, 5))], axis=1)
    master = np.concatenate(
        [np.full((40, 1), 5), rng.integers(1, 6, size=(40, 1)), rng.integers(0, 10, size=(40, 4))], axis=1
    )
    return np.asarray(np.concatenate([visa, master]), dtype=np.int64)


def _ips(rng: np.random.Generator, n: int) -> pl.Series:
    octets = pl.DataFrame(
        {
            "a": _FIRST_OCTETS[rng.integers(0, len(_FIRST_OCTETS), size=n)],
            "b": rng.integers(0, 256, size=n),
            "c": rng.integers(0, 256, size=n),
            "d": rng.integers(1, 255, size=n),
        }
    )
    return octets.select(pl.format("{}.{}.{}.{}", "a", "b", "c", "d")).to_series()


def _merchants(pools: PeoplePools, seed: int) -> _Merchants:
    """About 520 normal merchants (weighted by category share and popularity) and 30 high-risk ones."""
    rng = rng_for(seed, STREAM, _MERCHANTS)
    last = pools.last.to_list()
    names: list[str] = []
    mcc: list[int] = []
    weights: list[float] = []
    categories = [(i, share, endings) for i, (_, share, _, _, endings) in enumerate(NORMAL_MCC)]
    categories += [(len(NORMAL_MCC) + i, 0.0, endings) for i, (_, endings) in enumerate(HIGH_RISK_MCC)]
    for category, share, endings in categories:
        count = 6 if share == 0 else max(8, int(share * 2))
        popularity = rng.lognormal(0, 1, size=count)
        for j in range(count):
            owners = [last[k] for k in rng.integers(0, len(last), size=3)]
            form = int(rng.integers(0, 10))
            base = (
                owners[0]
                if form < 6
                else f"{owners[0]}-{owners[1]}"
                if form < 8
                else (f"{owners[0]}, {owners[1]} and {owners[2]}")
            )
            names.append(f"{base} {endings[int(rng.integers(0, len(endings)))]}")
            mcc.append(category)
            weights.append(share * popularity[j] / popularity.sum())
    high_risk = np.array([m >= len(NORMAL_MCC) for m in mcc])
    weight = np.asarray(weights, dtype=np.float64)
    weight = weight / weight.sum() * (1 - HIGH_RISK_SHARE)
    weight[high_risk] = HIGH_RISK_SHARE / high_risk.sum()
    return _Merchants(names=pl.Series(names), mcc=np.asarray(mcc, dtype=np.int64), lookup=_lookup(weight))


# ------------------------------------------------------------------------------------------ rows


def _lookup(weights: npt.NDArray[np.float64]) -> IntArray:
    """A table of indices, each appearing in proportion to its weight (at a resolution of one table slot):
    a uniform draw from it is a weighted draw, much faster than a binary search per row."""
    size = max(1 << 20, 16 * len(weights))
    cdf = np.cumsum(weights) / weights.sum()
    slots = np.searchsorted(cdf, (np.arange(size) + 0.5) / size, side="right")
    return np.minimum(slots, len(weights) - 1).astype(np.int32 if len(weights) < 2**31 else np.int64)


def _draw(lookup: IntArray, rng: np.random.Generator, n: int) -> IntArray:
    return lookup[rng.integers(0, len(lookup), size=n)].astype(np.int64)


def _block(
    *,
    customers: _Customers,
    merchants: _Merchants,
    plan: DirtyPlan,
    seed: int,
    rows: int,
    first_id: int,
    block: int,
    start: int,
    n: int,
) -> tuple[pl.DataFrame, pl.DataFrame, IntArray, dict[str, IntArray]]:
    rng = rng_for(seed, STREAM, _BLOCKS, block)
    gap = SPAN_SECONDS / rows
    t_lo, t_hi = START + start * gap, START + (start + n) * gap
    n_customers = len(customers.home)

    customer = _draw(customers.lookup, rng, n)
    merchant = _draw(merchants.lookup, rng, n)
    category = merchants.mcc[merchant]
    median = np.array([m for _, _, m, _, _ in NORMAL_MCC] + [120.0] * len(HIGH_RISK_MCC))[category]
    sigma = np.array([s for _, _, _, s, _ in NORMAL_MCC] + [0.8] * len(HIGH_RISK_MCC))[category]
    travel = rng.random(n) < 0.03
    country = np.where(
        travel, pick(rng, [share for _, _, _, share in COUNTRIES], n), customers.home[customer]
    )
    new_device = rng.random(n) < 0.04
    new_ip = rng.random(n) < 0.12
    arrays: dict[str, npt.NDArray[Any]] = {
        "time": rng.uniform(t_lo, t_hi, size=n),
        "customer": customer,
        "merchant": merchant,
        "cents": np.maximum(np.rint(rng.lognormal(np.log(median), sigma) * 100), 50).astype(np.int64),
        "country": country,
        "lower_currency": rng.random(n) < 0.005,
        "device": np.where(new_device, np.cumsum(new_device) - 1, -1),
        "ip": np.where(new_ip, np.cumsum(new_ip) - 1, -1),
        "kind": np.zeros(n, dtype=np.int64),
    }
    fresh = _inject_anomalies(
        arrays, merchants, rng, n_customers=n_customers, devices=int(new_device.sum()), t_lo=t_lo, t_hi=t_hi
    )
    ips = _ips(rng, int(new_ip.sum()) + fresh - int(new_device.sum()))
    devices = uuid4_text(rng, fresh)
    order = np.argsort(arrays["time"], kind="stable")
    arrays = {name: values[order] for name, values in arrays.items()}

    placed = place_dirty(plan.in_block(start, n), n, blocked=arrays["kind"] != _NONE)
    source = duplicate_sources(n, placed["duplicate"])
    arrays = {name: values[source] for name, values in arrays.items()}
    arrays["number"] = first_id + start + source  # a duplicate repeats its source's transaction_id
    negative = placed["negative_amount"]
    arrays["cents"][negative] = -arrays["cents"][negative]

    frame = _frame(customers, merchants, devices, ips, arrays)
    bad = placed["bad_date"]
    bad_values = [BAD_DATES[i] for i in rng.integers(0, len(BAD_DATES), size=len(bad))]
    bad_values = [
        v if v == "not-a-date" else f"{v} {h:02d}:{m:02d}:{s:02d}"
        for v, h, m, s in zip(
            bad_values, *rng.integers(0, 60, size=(3, len(bad))) % np.array([[24], [60], [60]]), strict=True
        )
    ]
    frame = scatter_text(frame, "timestamp", bad, bad_values)
    emails = placed["malformed_email"]
    frame = scatter_text(
        frame, "email", emails, malformed_emails(frame["email"].gather(emails).to_list(), rng)
    )
    ragged = placed["ragged_line"]
    raw = [f"{name.replace(',', '')}, Online" for name in frame["merchant_name"].gather(ragged).to_list()]
    frame = frame.with_columns(ragged_column(n, ragged, raw))

    kind = arrays["kind"]
    names = pl.Series([None, *ANOMALY_KINDS], dtype=pl.String)
    label = pl.concat(
        [
            pl.DataFrame({"row": np.arange(start, start + n, dtype=np.int64)}),
            frame.select("transaction_id"),
            pl.DataFrame({"is_anomaly": kind != _NONE}),
            names.gather(kind).alias("anomaly_kind").to_frame(),
            reason_columns(
                n,
                placed,
                {
                    "bad_date": ["timestamp"] * len(bad),
                    "negative_amount": ["amount"] * len(negative),
                    "malformed_email": ["email"] * len(emails),
                },
            ),
        ],
        how="horizontal",
    )
    return frame, label, kind, placed


def _inject_anomalies(
    arrays: dict[str, npt.NDArray[Any]],
    merchants: _Merchants,
    rng: np.random.Generator,
    *,
    n_customers: int,
    devices: int,
    t_lo: float,
    t_hi: float,
) -> int:
    """Turn about 0.8% of the block's rows into anomalies.

    `devices` new devices are in use; returns how many are after the bursts (each burst uses a new
    device and a new IP address: the IP indices of bursts follow the block's own new IPs).
    """
    n = len(arrays["kind"])
    if n < 50:
        return devices
    kind = arrays["kind"]
    ips = int((arrays["ip"] >= 0).sum())

    def take(count: int) -> IntArray:
        free = np.flatnonzero(kind == _NONE)
        chosen = np.sort(rng.choice(free, size=min(count, len(free)), replace=False)).astype(np.int64)
        return chosen

    spikes = take(int(rng.binomial(n, 0.0025)))
    kind[spikes] = _SPIKE
    arrays["cents"][spikes] = np.rint(rng.lognormal(np.log(6000), 0.6, size=len(spikes)) * 100)
    high_risk = np.flatnonzero(merchants.mcc >= len(NORMAL_MCC))
    unusual = take(int(rng.binomial(n, 0.0015)))
    kind[unusual] = _UNUSUAL
    arrays["merchant"][unusual] = high_risk[rng.integers(0, len(high_risk), size=len(unusual))]
    arrays["cents"][unusual] = np.rint(rng.lognormal(np.log(900), 0.6, size=len(unusual)) * 100)

    names = [code for code, *_ in NORMAL_MCC]
    burst_merchants = np.flatnonzero(np.isin(merchants.mcc, [names.index(c) for c in BURST_MCC]))
    testing_merchants = np.flatnonzero(merchants.mcc == names.index(CARD_TESTING_MCC))
    if t_hi - t_lo < 2 * 3600:  # no room for a burst inside the block's time range
        return devices
    floor = 1 if n >= 1000 else 0
    bursts = [(_BURST, int(k)) for k in rng.integers(6, 13, size=max(floor, rng.poisson(n * 0.0035 / 9)))]
    bursts += [
        (_TESTING, int(k)) for k in rng.integers(8, 16, size=max(floor, rng.poisson(n * 0.0012 / 11.5)))
    ]
    for burst_kind, size in bursts:
        members = take(size)
        if len(members) < size:
            break
        kind[members] = burst_kind
        t0 = rng.uniform(t_lo, t_hi - 3600)
        if burst_kind == _BURST:
            steps = rng.uniform(20, 150, size=size)
            arrays["merchant"][members] = burst_merchants[rng.integers(0, len(burst_merchants), size=size)]
            arrays["cents"][members] = np.rint(rng.lognormal(np.log(250), 0.7, size=size) * 100)
        else:
            steps = rng.uniform(5, 40, size=size)
            arrays["merchant"][members] = testing_merchants[rng.integers(0, len(testing_merchants))]
            arrays["cents"][members] = rng.integers(50, 300, size=size)
        arrays["time"][members] = t0 + np.cumsum(steps)
        arrays["customer"][members] = rng.integers(0, n_customers)
        arrays["country"][members] = arrays["country"][members[0]]
        arrays["device"][members] = devices
        arrays["ip"][members] = ips
        devices += 1
        ips += 1
    return devices


def _fresh(values: pl.Series, refs: IntArray, name: str) -> pl.DataFrame:
    """values[refs] where refs >= 0, null elsewhere."""
    if values.len() == 0:
        return pl.DataFrame({name: pl.Series([None] * len(refs), dtype=pl.String)})
    return values.gather(np.maximum(refs, 0)).alias(name).to_frame()


def _frame(
    customers: _Customers,
    merchants: _Merchants,
    devices: pl.Series,
    ips: pl.Series,
    arrays: dict[str, npt.NDArray[Any]],
) -> pl.DataFrame:
    """The text columns, in file order."""
    mcc_codes = pl.Series([code for code, *_ in NORMAL_MCC] + [code for code, _ in HIGH_RISK_MCC])
    numbers = pl.DataFrame({name: values for name, values in arrays.items()})
    gathered = pl.concat(
        [
            numbers,
            customers.table.select(pl.all().gather(arrays["customer"])),
            _fresh(devices, arrays["device"], "new_device"),
            _fresh(ips, arrays["ip"], "new_ip"),
            merchants.names.gather(arrays["merchant"]).alias("merchant_name").to_frame(),
            mcc_codes.gather(merchants.mcc[arrays["merchant"]]).alias("mcc").to_frame(),
            pl.Series("country_code", [c for c, *_ in COUNTRIES]).gather(arrays["country"]).to_frame(),
            pl.Series("currency_code", [c for _, c, *_ in COUNTRIES]).gather(arrays["country"]).to_frame(),
        ],
        how="horizontal",
    )
    return gathered.select(
        pl.concat_str(pl.lit("T"), pl.col("number").cast(pl.String).str.zfill(12)).alias("transaction_id"),
        "customer_id",
        "account_number",
        "card_number",
        "email",
        pl.when(pl.col("ip") >= 0).then(pl.col("new_ip")).otherwise(pl.col("home_ip")).alias("ip_address"),
        pl.when(pl.col("device") >= 0)
        .then(pl.col("new_device"))
        .otherwise(pl.col("home_device"))
        .alias("device_id"),
        money(pl.col("cents")).alias("amount"),
        pl.when(pl.col("lower_currency"))
        .then(pl.col("currency_code").str.to_lowercase())
        .otherwise(pl.col("currency_code"))
        .alias("currency"),
        "mcc",
        "merchant_name",
        pl.from_epoch(pl.col("time").floor().cast(pl.Int64), time_unit="s")
        .dt.strftime("%Y-%m-%d %H:%M:%S")
        .alias("timestamp"),
        pl.col("country_code").alias("country"),
    )
