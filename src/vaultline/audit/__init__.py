"""The tamper-evident audit log: hash-chained JSON Lines segments, signed checkpoints, keyed identifiers.

    from vaultline.audit import AuditLog, audit_session, AuditUnavailableError

docs/audit.md describes the format, the guarantees and what verification cannot detect.
"""

from vaultline.audit.checkpoints import Checkpoint
from vaultline.audit.entries import AuditEntry
from vaultline.audit.export import ExportResult
from vaultline.audit.log import AuditLog, Operation
from vaultline.audit.prune import PruneResult
from vaultline.audit.session import audit_session
from vaultline.audit.verify import Finding, VerifyReport, verify_log
from vaultline.errors import AuditError, AuditUnavailableError

__all__ = [
    "AuditEntry",
    "AuditError",
    "AuditLog",
    "AuditUnavailableError",
    "Checkpoint",
    "ExportResult",
    "Finding",
    "Operation",
    "PruneResult",
    "VerifyReport",
    "audit_session",
    "verify_log",
]
