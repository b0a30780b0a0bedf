"""The pipeline spec as typed models (version 1). `vaultline schema` prints their JSON Schema."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, create_model

from vaultline.input_model import InputModel
from vaultline.monitor.rules import AlarmRules
from vaultline.spec.sources import Source
from vaultline.transforms.base import DomainName, StepParams
from vaultline.transforms.registry import TRANSFORMS

Name = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")]


class _Model(InputModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


def _step_model(name: str, params: type[StepParams]) -> type[BaseModel]:
    model: type[BaseModel] = create_model(  # type: ignore[call-overload]
        f"{name.title().replace('_', '')}Step",
        __config__=ConfigDict(extra="forbid", frozen=True),
        __doc__=sys.modules[params.__module__].__doc__,
        **{name: (params, ...)},
    )
    return model


def _step_tag(value: Any) -> str | None:
    if isinstance(value, dict) and len(value) == 1:
        return str(next(iter(value)))
    if isinstance(value, BaseModel):
        return next(iter(type(value).model_fields))
    return None


STEP_MODELS: dict[str, type[BaseModel]] = {
    spec.name: _step_model(spec.name, spec.params) for spec in TRANSFORMS
}

# A step is a one-key mapping `{transform_name: params}`; the key picks the model. The union is built
# from the registry at import time, which static checkers cannot follow: they see a plain model.
if TYPE_CHECKING:
    StepUnion = BaseModel
else:
    StepUnion = Annotated[
        Union[tuple(Annotated[model, Tag(name)] for name, model in STEP_MODELS.items())],  # noqa: UP007
        Discriminator(
            _step_tag,
            custom_error_type="unknown_step",
            custom_error_message=f"a step is a one-key mapping naming one of: {', '.join(STEP_MODELS)}",
        ),
    ]


def step_name(step: BaseModel) -> str:
    return next(iter(type(step).model_fields))


def step_params(step: BaseModel) -> StepParams:
    params: StepParams = getattr(step, step_name(step))
    return params


KeyName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,63}(@[1-9][0-9]*)?$")]
SensitivityClass = Literal["pii", "phi", "pci", "credential"]


DEFAULT_FOOTER_KEY = "vaultline-footer"
DEFAULT_COLUMN_KEYS: dict[SensitivityClass, str] = {
    c: f"vaultline-{c}" for c in ("pii", "phi", "pci", "credential")
}
DEFAULT_ENCRYPTION_KEYS = frozenset({DEFAULT_FOOTER_KEY, *DEFAULT_COLUMN_KEYS.values()})
"""The keys Vaultline creates itself on first use; a misspelt `vaultline-fotter` is not one of them."""


class Encryption(_Model):
    """Parquet Modular Encryption of an output (AES-GCM, double wrapping): one key per sensitivity class
    for the columns of that class, and a footer key. Keys come from the configured key provider; the
    default names are created there on first use, any other key named here must already exist."""

    enabled: bool = True
    """Encrypt this output at rest. Turning it off is recorded in the dataset's catalog entry."""
    footer_key: KeyName = DEFAULT_FOOTER_KEY
    """Key of the file footer (schema and metadata) and of the columns of no sensitivity class."""
    column_keys: dict[SensitivityClass, KeyName] = Field(default_factory=lambda: dict(DEFAULT_COLUMN_KEYS))
    """Sensitivity class -> key of its columns. A reader holding only the `pii` key reads the `pii`
    columns and the plain ones, never the `phi` ones."""
    columns: dict[SensitivityClass, list[str]] = Field(default_factory=dict)
    """Columns assigned to a class by hand. Columns the sources' classification found sensitive are
    assigned to their class automatically (`classified: true`)."""
    classified: bool = True
    """Assign every output column the classification of the sources found sensitive to its class."""
    plaintext_footer: bool = False
    """Leave the footer readable so that readers without encryption support see the plain columns."""
    key_material: Literal["internal", "external"] = "internal"
    """Where the wrapped keys live: in the file's footer (one object per output), or in a
    `_KEY_MATERIAL_FOR_<file>.json` beside it, which `vaultline keys rewrap` re-wraps after a rotation
    without rewriting the data."""


class Output(_Model):
    """Where the protected, analysis-ready rows go: a dataset, versioned in the catalog."""

    path: str = Field(min_length=1)
    """Directory (local or s3://) that receives this run's Parquet file(s)."""
    encryption: Encryption = Field(default_factory=Encryption)
    """Encryption at rest; on by default."""
    format: Literal["parquet"] = "parquet"
    columns: list[str] | None = None
    """Columns to write (default: all)."""
    mode: Literal["overwrite", "append"] | None = None
    """`append`: each version holds the previous version's files plus this run's; `overwrite`: only this
    run's. Default: append when a source is read incrementally, else overwrite."""
    compression: Literal["snappy", "zstd", "lz4", "uncompressed"] = "snappy"
    """snappy by default: Spark's and Glue's default codec, and the fastest to write here."""


class Quarantine(_Model):
    """Where rejected rows go. Every data value of a quarantined row (and the raw text of a malformed
    record) is AES-SIV encrypted, under a key per column derived from the `domain` token domain's key,
    so nothing sensitive sits in the clear while nothing is lost."""

    path: str | None = Field(default=None, min_length=1)
    """Directory for quarantine files (default: `<state dir>/quarantine/<pipeline>`)."""
    domain: DomainName = "quarantine"
    max_fraction: float = Field(default=0.2, ge=0, le=1)
    """Fail the run when more than this fraction of input rows is quarantined."""


class Policy(_Model):
    unkeyed_hash: Literal["warn", "error"] = "warn"
    """What `validate` does with an unkeyed `hash` step."""
    on_unprotected_sensitive: Literal["fail", "warn"] = "fail"
    """What a run does when an output would hold a column its sources' classification found identifying
    (an email, an SSN...) with no protection step: `fail` before reading a row, or `warn` in the report."""
    accept_unprotected: dict[
        Annotated[str, Field(min_length=1, max_length=128)], Annotated[str, Field(min_length=10)]
    ] = Field(default_factory=dict)
    """Columns deliberately written in the clear although detected as sensitive: column -> the reason
    (at least 10 characters; recorded in the run report)."""
    profile: Literal["hipaa-safe-harbor", "pci", "gdpr-pseudonymization"] | None = None
    """The compliance profile the spec follows; `vaultline explain` and the guardrail's fixes use it."""


class Pipeline(_Model):
    """A Vaultline pipeline: sources flow through ordered steps into outputs."""

    version: Literal[1]
    name: Name
    description: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    """Job parameters, used as `${params.NAME}` anywhere in the spec; overridden by `--param NAME=VALUE`."""
    keys: dict[
        DomainName, Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,63}(@[1-9][0-9]*)?$")]
    ] = Field(default_factory=dict)
    """Token domain -> keyring key name (optionally pinned: `name@2`). Never a literal secret."""
    sources: dict[Name, Source] = Field(min_length=1)
    """Inputs. Several sources are concatenated (they must share their columns)."""
    steps: list[StepUnion] = Field(default_factory=list)
    outputs: dict[Name, Output] = Field(min_length=1)
    quarantine: Quarantine = Field(default_factory=Quarantine)
    policy: Policy = Field(default_factory=Policy)
    alarms: AlarmRules = Field(default_factory=list)
    """Alarm rules: job failure, data-quality breach, anomaly spike, latency, unusual access."""

    def all_steps(self) -> list[tuple[str, StepParams]]:
        return [(step_name(step), step_params(step)) for step in self.steps]

    def protected_columns(self) -> list[str]:
        """Every column some protection step rewrites (used to encrypt quarantined rows)."""
        columns: list[str] = []
        for _, params in self.all_steps():
            if params.protection.value != "none":
                columns += params.input_columns()
        return list(dict.fromkeys(columns))
