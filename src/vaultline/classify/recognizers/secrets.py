"""Credentials: keys, tokens and secrets that must never sit in a dataset.

Known layouts (cloud access keys, vendor tokens, JWTs, PEM private keys) count on their own; a
generic long random-looking string counts only under a name such as `password` or `api_key`, so
UUIDs, hashes and ids are not taken for secrets.
"""

from __future__ import annotations

import math
from collections import Counter

from vaultline.classify.recognizer import Recognizer


def _bits_per_char(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


class KnownSecret(Recognizer):
    entity = "CREDENTIAL"
    candidate = (
        r"(AKIA|ASIA)[0-9A-Z]{16}"  # AWS access key id
        r"|(sk|rk|pk)_(live|test)_[0-9A-Za-z]{16,}"  # Stripe
        r"|gh[pousr]_[0-9A-Za-z]{36,}|github_pat_[0-9A-Za-z_]{40,}"  # GitHub
        r"|xox[abpr]-[0-9A-Za-z-]{10,}"  # Slack
        r"|AIza[0-9A-Za-z_-]{35}"  # Google API key
        r"|eyJ[0-9A-Za-z_-]{8,}\.eyJ[0-9A-Za-z_-]{8,}\.[0-9A-Za-z_-]{8,}"  # JWT
        r"|-----BEGIN [A-Z ]*PRIVATE KEY-----(?s:.*)"
    )
    keywords = (
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "apikey",
        "privatekey",
        "accesskey",
        "credential",
    )
    validator = "known key and token layouts"


class GenericSecret(KnownSecret):
    candidate = r"\S{12,512}"
    needs_context = True
    validator = "random-looking text (>= 3.5 bits per character), with a secret keyword"

    def validate(self, value: str) -> bool:
        return _bits_per_char(value) >= 3.5
