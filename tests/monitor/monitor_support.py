"""Monitoring helpers: local webhook and SMTP receivers, and a real fraud run (the example pipeline on
generated data). `catalog_url` is shared by every folder (tests/fixtures_services.py)."""

from __future__ import annotations

import csv
import datetime as dt
import http.server
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from vaultline.demo.fraud import generate_fraud
from vaultline.keys.local import PASSPHRASE_ENV, LocalKeyring
from vaultline.run.runner import run
from vaultline.spec.loader import load
from vaultline.state import State

EXAMPLES = Path(__file__).parents[2] / "examples"
FRAUD_ROWS = 2000


@dataclass
class FraudRun:
    """The fraud example run once on generated data: its state, spec, report and sensitive input values."""

    out: Path
    state: State
    loaded: Any
    report: dict[str, Any]
    sensitive: set[str] = field(default_factory=set)


def run_fraud(out: Path, alarms: list[dict[str, Any]] | None = None) -> FraudRun:
    """Generate fraud data under `out`, run the example (with `alarms` added to its spec) and return it."""
    state = State(out / ".vaultline").ensure()
    dataset = generate_fraud(FRAUD_ROWS, out)
    spec = out / "pipeline.yaml"
    text = (EXAMPLES / "fraud" / "pipeline.yaml").read_text("utf-8")
    # The example's own alarms are replaced; JSON is YAML: the rules become one flow mapping entry.
    text = text[: text.index("\nalarms:")] if "\nalarms:" in text else text
    spec.write_text(text + f"\nalarms: {json.dumps(alarms or [])}\n", "utf-8")
    loaded = load(spec, {"source_bucket": str(out / "raw"), "target_bucket": str(out / "output")})
    keyring = LocalKeyring(state.root, warn=False)
    for ref in loaded.pipeline.keys.values():
        keyring.ensure(ref)
    report = run(loaded, state)
    sensitive: set[str] = set()
    with open(dataset.data_path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            for column in dataset.sensitive_columns:
                value = (row.get(column) or "").strip()
                if len(value) >= 4:
                    sensitive.add(value)
    return FraudRun(out, state, loaded, report, sensitive)


@pytest.fixture(scope="module")
def passphrase() -> Iterator[None]:
    patch = pytest.MonkeyPatch()
    patch.setenv(PASSPHRASE_ENV, "monitor-test-passphrase")
    patch.delenv("VAULTLINE_CATALOG_URL", raising=False)
    patch.delenv("VAULTLINE_KEY_PROVIDER", raising=False)
    yield
    patch.undo()


# ------------------------------------------------------------------------------------ webhook receiver


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1: answers each POST with the next status of `statuses` (then 200)."""

    url: str
    requests: list[Received]
    statuses: list[int]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    requests: list[Received] = []
    statuses: list[int] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            requests.append(Received(self.path, dict(self.headers.items()), body))
            self.send_response(statuses.pop(0) if statuses else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Receiver(
            f"http://127.0.0.1:{server.server_address[1]}/hooks/vaultline?token=t0ken", requests, statuses
        )
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# ---------------------------------------------------------------------------------------- SMTP server


@dataclass
class Mailbox:
    """A local aiosmtpd server on 127.0.0.1 that requires STARTTLS and AUTH with `password`."""

    port: int
    ca_file: str
    username: str
    password: str
    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (and its key), signed by itself, so it is its own CA file."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp / "smtp-cert.pem", tmp / "smtp-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


def start_mailbox(tmp: Path, username: str, password: str) -> tuple[Mailbox, Any]:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    cert_file, key_file = self_signed(tmp)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert_file, key_file)
    box = Mailbox(closed_port(), str(cert_file), username, password)

    class Handler:
        async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
            box.messages.append((envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content)))
            return "250 OK"

    def authenticate(_server: Any, _session: Any, _envelope: Any, mechanism: str, auth: Any) -> AuthResult:
        ok = auth.login.decode() == box.username and auth.password.decode() == box.password
        if ok:
            box.logins.append(mechanism)
        return AuthResult(success=ok)

    controller = Controller(
        Handler(), hostname="127.0.0.1", port=box.port, tls_context=tls, require_starttls=True,
        authenticator=authenticate, auth_require_tls=True,
    )  # fmt: skip
    controller.start()
    return box, controller
