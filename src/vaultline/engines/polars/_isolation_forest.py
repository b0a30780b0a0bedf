"""Isolation Forest: fitted by scikit-learn, scored by a numba kernel that walks sklearn's own trees.

Why: `IsolationForest.score_samples` scores ~0.2M rows/s here (one core; a thread pool over chunks
reaches ~0.4M/s), isotree ~0.2-0.3M/s and onnxruntime less. The kernel below reads the fitted
trees' arrays and computes the *same* number as `score_samples`, bit for bit in our measurements
(bench/bench_anomaly.py checks it, tests/transforms/test_anomaly.py asserts it to 1e-9), at
~1.9M rows/s on 2 cores.

What sklearn computes (1.9, `_compute_score_samples`), for X cast to float32:
- per tree, the leaf reached: at an internal node, a NaN goes to the child `missing_go_to_left`
  names; otherwise `x <= threshold` goes left, else right (float32 x against a float64 threshold);
  when max_features < n_features, tree i reads the columns `estimators_features_[i]`;
- per tree, `depth(leaf) + c(n_node_samples(leaf)) - 1`, with depth counted from 1 at the root and
  c(n) the average path length of an unsuccessful BST search (`average_path_length`);
- summed over the trees in order, divided by `n_estimators * c(max_samples_)`, and
  score_samples = -(2 ** -(sum / denominator)).

How the kernel reproduces it exactly:
- float64 -> float32 rounding is the same (round to nearest even) in numpy and in the kernel;
- for a float32 x and a float64 threshold t, `x <= t` equals `x <= t32` where t32 is t rounded
  *down* to float32, so the trees' thresholds are stored as float32 without changing any decision;
- missing values: each block of rows is widened to 2 * n_features float32 rows, the first copy
  with NaN -> +inf, the second with NaN -> -inf; a node whose NaNs go left reads the second copy,
  one whose NaNs go right reads the first, so the test is always `x > t32` (go right), without a
  branch on NaN (thresholds are finite: the trees are fitted on finite values and NaN);
- leaves loop onto themselves (threshold +inf), so every row takes exactly `max_depth` steps of a
  tree without branching, and a block of 512 rows walks one tree (which stays in L1) at a time;
- per-leaf values are precomputed with sklearn's formula and operation order, and summed over the
  trees in the same order; the final power is numpy's, as in sklearn.

Infinite feature values (and float64 magnitudes beyond float32's range) are treated as missing,
both when fitting (`fit_matrix`) and when scoring, which keeps every threshold finite.

Heavy imports (numba here, sklearn inside `fit_sklearn`) stay in this module, which the step
imports only when it runs.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

BLOCK_ROWS = 512
"""Rows walked together through one tree (all 2 * n_features float32 copies fit in L1)."""

IMPLEMENTATION = "vaultline-numba-isolation-forest-v1 (scikit-learn trees, exact score_samples)"
FINGERPRINT_VERSION = b"vaultline.isolation-forest.v1\x00"

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
U32 = npt.NDArray[np.uint32]
I64 = npt.NDArray[np.int64]


def average_path_length(n: npt.ArrayLike) -> F64:
    """c(n): sklearn's `_average_path_length`, same formula and operation order (0, 1 for n<=1, 2)."""
    n_arr = np.asarray(n, dtype=np.float64)
    out = np.zeros(n_arr.shape, dtype=np.float64)
    big = n_arr > 2
    out[n_arr == 2] = 1.0
    nb = n_arr[big]
    out[big] = 2.0 * (np.log(nb - 1.0) + np.euler_gamma) - 2.0 * (nb - 1.0) / nb
    return out


def fit_matrix(columns: list[F64]) -> F32:
    """The (rows, features) float32 matrix sklearn is fitted on: ±inf and overflow become NaN."""
    with np.errstate(over="ignore"):
        matrix = np.column_stack([np.asarray(c, dtype=np.float64) for c in columns]).astype(np.float32)
    matrix[np.isinf(matrix)] = np.nan
    return matrix


def fit_sklearn(matrix: F32, n_estimators: int, max_samples: int, random_state: int) -> Any:
    """An sklearn IsolationForest fitted with contamination='auto' (the threshold is ours)."""
    from sklearn.ensemble import IsolationForest

    model = IsolationForest(
        n_estimators=n_estimators,
        max_samples=min(max_samples, matrix.shape[0]),
        contamination="auto",
        random_state=random_state,
    )
    return model.fit(matrix)


def _node_depths(children_left: I64, children_right: I64) -> I64:
    """Depth of each node, the root at 1 (sklearn's `Tree.compute_node_depths`)."""
    depths = np.zeros(children_left.shape[0], dtype=np.int64)
    depths[0] = 1
    stack = [0]
    while stack:
        node = stack.pop()
        if children_left[node] != -1:
            for child in (children_left[node], children_right[node]):
                depths[child] = depths[node] + 1
                stack.append(int(child))
    return depths


def _threshold_down_f32(threshold: F64) -> F32:
    """Each threshold rounded toward -inf to float32: for float32 x, x <= t  <=>  x <= result."""
    t32 = threshold.astype(np.float32)
    above = t32.astype(np.float64) > threshold
    t32[above] = np.nextafter(t32[above], np.float32(-np.inf))
    return t32


@dataclass(frozen=True)
class PackedForest:
    """The fitted trees as flat arrays for the kernel, plus what scoring needs around them."""

    nodes: U32
    """4 uint32 per node: feature row in the widened block, threshold bits, left, right (global ids)."""
    thresholds: F32
    """Float32 view of `nodes` (the threshold sits at 4 * node + 1)."""
    leaf_values: F64
    """Per node: depth + c(n_node_samples) - 1 (used at leaves)."""
    roots: U32
    depths: I64
    """Steps to walk per tree (its max_depth)."""
    n_features: int
    denominator: float
    max_samples: int
    fingerprint: str


def _tree_arrays(model: Any) -> list[dict[str, npt.NDArray[Any]]]:
    n_features = int(model.n_features_in_)
    trees: list[dict[str, npt.NDArray[Any]]] = []
    for estimator, features in zip(model.estimators_, model.estimators_features_, strict=True):
        tree = estimator.tree_
        feature_map = np.asarray(features, dtype=np.int64)
        if feature_map.shape[0] == n_features:
            # sklearn does not index columns when every feature is drawn (`subsample_features`).
            feature_map = np.arange(n_features, dtype=np.int64)
        trees.append(
            {
                "feature": np.asarray(tree.feature, dtype=np.int64),
                "threshold": np.asarray(tree.threshold, dtype=np.float64),
                "children_left": np.asarray(tree.children_left, dtype=np.int64),
                "children_right": np.asarray(tree.children_right, dtype=np.int64),
                "n_node_samples": np.asarray(tree.n_node_samples, dtype=np.int64),
                "missing_go_to_left": np.asarray(tree.missing_go_to_left, dtype=np.uint8),
                "features": feature_map,
            }
        )
    return trees


def fingerprint(model: Any, feature_names: list[str]) -> str:
    """SHA-256 of the fitted forest: a versioned header, then each tree's arrays as little-endian bytes.

    Covers everything the scores depend on (structure, features, thresholds, leaf sizes, NaN sides,
    max_samples_), in a fixed order with explicit dtypes and lengths; no pickle.
    """
    digest = hashlib.sha256(FINGERPRINT_VERSION)
    header = {
        "features": feature_names,
        "n_features": int(model.n_features_in_),
        "n_estimators": len(model.estimators_),
        "max_samples": int(model.max_samples_),
    }
    digest.update(json.dumps(header, sort_keys=True, separators=(",", ":")).encode())
    dtypes = {"threshold": "<f8", "missing_go_to_left": "|u1"}
    for tree in _tree_arrays(model):
        for name in sorted(tree):
            data = np.ascontiguousarray(tree[name], dtype=dtypes.get(name, "<i8"))
            digest.update(f"\x00{name}:{data.dtype.str}:{data.shape[0]}\x00".encode())
            digest.update(data.tobytes())
    return digest.hexdigest()


def pack(model: Any, feature_names: list[str]) -> PackedForest:
    """Flatten a fitted sklearn IsolationForest for `depth_sums`."""
    n_features = int(model.n_features_in_)
    records, leaf_values, roots, depths = [], [], [], []
    offset = 0
    for tree in _tree_arrays(model):
        left, right = tree["children_left"], tree["children_right"]
        count = left.shape[0]
        ids = np.arange(count, dtype=np.int64)
        leaf = left == -1
        if not np.all(np.isfinite(tree["threshold"][~leaf])):
            raise ValueError("a fitted tree has a non-finite threshold; the exact kernel cannot score it")
        thresholds = _threshold_down_f32(tree["threshold"])
        thresholds[leaf] = np.inf
        feature = tree["features"][np.where(leaf, 0, tree["feature"])]
        # The second copy of the block (NaN -> -inf) for nodes whose NaNs go left.
        row = feature + n_features * tree["missing_go_to_left"].astype(np.int64)
        record = np.zeros((count, 4), dtype=np.uint32)
        record[:, 0] = np.where(leaf, 0, row)
        record[:, 1] = thresholds.view(np.uint32)
        record[:, 2] = np.where(leaf, ids, left) + offset
        record[:, 3] = np.where(leaf, ids, right) + offset
        records.append(record)
        node_depths = _node_depths(left, right)
        leaf_values.append((node_depths + average_path_length(tree["n_node_samples"])) - 1.0)
        roots.append(offset)
        depths.append(int(node_depths.max()) - 1)
        offset += count
    if offset >= 2**30:
        raise ValueError("the forest has too many nodes for 32-bit node ids")
    nodes = np.concatenate(records).reshape(-1)
    max_samples = int(model.max_samples_)
    denominator = float(len(model.estimators_) * average_path_length(np.array([max_samples]))[0])
    return PackedForest(
        nodes=nodes,
        thresholds=nodes.view(np.float32),
        leaf_values=np.concatenate(leaf_values),
        roots=np.asarray(roots, dtype=np.uint32),
        depths=np.asarray(depths, dtype=np.int64),
        n_features=n_features,
        denominator=denominator,
        max_samples=max_samples,
        fingerprint=fingerprint(model, feature_names),
    )


def _depth_sums_py(  # noqa: PLR0917 - numba kernels take positional arrays
    columns: F64, nodes: U32, thresholds: F32, leaf_values: F64, roots: U32, depths: I64, block: int
) -> F64:  # pragma: no cover - compiled by numba (`_kernel`), not run as Python
    n_features, n = columns.shape
    out = np.zeros(n)
    n_blocks = (n + block - 1) // block
    one, two, four = np.uint32(1), np.uint32(2), np.uint32(4)
    for b in numba.prange(n_blocks):
        start = b * block
        size = min(n, start + block) - start
        acc = np.zeros(size)
        node = np.empty(size, np.uint32)
        x = np.empty((2 * n_features, size), np.float32)
        for f in range(n_features):
            for j in range(size):
                v = np.float32(columns[f, start + j])
                if np.isnan(v) or np.isinf(v):
                    x[f, j] = np.inf
                    x[n_features + f, j] = -np.inf
                else:
                    x[f, j] = v
                    x[n_features + f, j] = v
        for t in range(roots.shape[0]):
            node[:] = roots[t]
            for _ in range(depths[t]):
                for j in range(size):
                    base = four * node[j]
                    right = np.uint32(x[nodes[base], j] > thresholds[base + one])
                    node[j] = nodes[base + two + right]
            for j in range(size):
                acc[j] += leaf_values[node[j]]
        out[start : start + size] = acc
    return out


_kernel: Callable[..., F64] = numba.njit(parallel=True, cache=True, nogil=True)(_depth_sums_py)
"""Compiled on first call (or loaded from numba's on-disk cache)."""
_kernel_lock = threading.Lock()
"""numba's default (workqueue) threading layer must not be entered from two threads at once, and
Polars may call the scoring function from several of its threads: calls are serialized."""


def depth_sums(forest: PackedForest, columns: F64) -> F64:
    """Sum over the trees of each row's path length; `columns` is (n_features, rows) float64."""
    if columns.shape[0] != forest.n_features:
        raise ValueError(f"expected {forest.n_features} feature rows, got {columns.shape[0]}")
    columns = np.ascontiguousarray(columns, dtype=np.float64)
    with _kernel_lock:
        return _kernel(
            columns,
            forest.nodes,
            forest.thresholds,
            forest.leaf_values,
            forest.roots,
            forest.depths,
            BLOCK_ROWS,
        )


def anomaly_scores(forest: PackedForest, columns: F64) -> F64:
    """-score_samples: 2 ** -(mean path length / c(max_samples)), in (0, 1], higher = more anomalous."""
    sums = depth_sums(forest, columns)
    # max_samples 1 (denominator 0): sklearn takes the ratio as 1, so every score is 2 ** -1.
    ratio = np.ones_like(sums) if forest.denominator == 0.0 else sums / forest.denominator
    scores: F64 = 2 ** (-ratio)
    return scores
