"""The raw AES block function over many 16-byte blocks at once, for the vectorized FF1 and SIV kernels."""

from __future__ import annotations

import numpy as np
from cryptography.hazmat.primitives.ciphers import CipherContext
from numpy.typing import NDArray

BLOCK = 16


def ecb(aes: CipherContext, blocks: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """AES of every 16-byte row of `blocks` in one call.

    Into a preallocated array: `update_into` ran at 7.6 GB/s here, `update` (which allocates the
    bytes it returns) at 1 GB/s, for the same AES-256 ECB on 1 MB inputs."""
    data = np.ascontiguousarray(blocks)
    out = np.empty(data.size + BLOCK - 1, dtype=np.uint8)  # update_into wants a block of slack
    written = aes.update_into(data.data, out.data)
    return out[:written].reshape(-1, BLOCK)
