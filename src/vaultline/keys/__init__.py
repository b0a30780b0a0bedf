"""Key management core: secrets that hide themselves, the provider interface and the local keyring.

Kept free of heavy imports: only `cryptography` and the standard library.
"""

from vaultline.keys.provider import KeyInfo, KeyProvider, KeyRef
from vaultline.keys.secret import SecretBytes

__all__ = ["KeyInfo", "KeyProvider", "KeyRef", "SecretBytes"]
