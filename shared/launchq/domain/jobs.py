"""Launch jobs: named, versioned recipes a run can be launched from (W&B's ``-j NAME:vN``).

A job says what to run (one source: a git ``uri`` with its ``git_version``, a prebuilt
``docker_image``, or uploaded ``code``), how (entry point, default args, env) and which
inputs it takes (``input_schema``, a JSON Schema a run's ``run_config`` must satisfy).
Every ``POST /jobs`` of a name adds its next version; a version is never changed
afterwards, so a run that records ``NAME:vN`` can always be traced to exactly what it ran.

W&B numbers versions from ``v0``; launchq from ``v1`` (a version is a count of creates).
References are ``NAME`` or ``NAME:latest`` (the highest version), ``NAME:vN`` and, as W&B
users also type it, ``NAME:N``.

jsonschema is imported only where a schema is checked, so the CLI does not pay for it
when it merely parses a reference.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from launchq.api.limits import (
    MAX_ARGS,
    MAX_CONFIG_BYTES,
    MAX_ENV_ENTRIES,
    MAX_REF_CHARS,
    MAX_STRING_CHARS,
    MAX_URI_CHARS,
)
from launchq.domain.code_ref import code_digest, is_code_ref
from launchq.domain.models import (
    NAME_PATTERN,
    BoundedJsonObject,
    BoundedStr,
    EntryPoint,
    EnvName,
    Name,
    check_env_names,
)
from launchq.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError as SchemaViolation

LATEST = "latest"
#: What ``parse_job_ref`` accepts, in words (its error message).
REF_SHAPES = (
    "NAME, NAME:latest, NAME:vN or NAME:N (N a version from 1; NAME is 1 to 63 letters,"
    " digits, '_', '.' or '-', starting with a letter or digit)"
)
_NAME = re.compile(NAME_PATTERN)
#: Validation context key: the input is a version a store kept (its schema was checked at create).
_CHECKED = "launchq.job_checked"
_VERSION = re.compile(r"^v?(?P<number>[0-9]{1,9})$")


def parse_job_ref(ref: str) -> tuple[str, int | None]:
    """``NAME[:latest|:vN|:N]`` as (name, version); version None means the latest.

    Raises InvalidInput (field ``job``) naming the shapes allowed.
    """
    name, _, version = ref.partition(":")
    if not _NAME.match(name):
        raise InvalidInput(f"{ref[:80]!r} is not a job reference: use {REF_SHAPES}", field="job")
    if not version or version == LATEST:
        return name, None
    match = _VERSION.match(version)
    if match is None:
        raise InvalidInput(f"{ref[:80]!r} is not a job reference: use {REF_SHAPES}", field="job")
    number = int(match.group("number"))
    if number < 1:
        raise InvalidInput(f"{ref[:80]!r}: launchq numbers job versions from v1 (W&B from v0)", field="job")
    return name, number


def job_ref(name: str, version: int) -> str:
    """The reference a run records: ``NAME:vN``."""
    return f"{name}:v{version}"


class JobSource(BaseModel):
    """Exactly one of: a git ``uri`` (+ ``git_version``), a ``docker_image``, or uploaded ``code``.

    A local directory is a ``uri`` too, as in a run. A ``uri`` given as ``code://...`` is
    taken as ``code``, so a reference printed by ``launchq code push`` works in either field.
    """

    model_config = ConfigDict(extra="forbid")

    uri: str | None = Field(
        default=None, max_length=MAX_URI_CHARS, description="git URL or local directory with the code"
    )
    git_version: str | None = Field(
        default=None, max_length=MAX_REF_CHARS, description="branch, tag or commit for a git uri"
    )
    docker_image: str | None = Field(default=None, max_length=MAX_REF_CHARS, description="a prebuilt image")
    code: str | None = Field(
        default=None,
        max_length=MAX_URI_CHARS,
        description="code://<sha256> from POST /code (launchq code push)",
    )

    @model_validator(mode="before")
    @classmethod
    def _code_given_as_uri(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("code") is not None:
            return data
        uri = data.get("uri")
        if isinstance(uri, str) and is_code_ref(uri):
            return {**{k: v for k, v in data.items() if k != "uri"}, "code": uri}
        return data

    @field_validator("code")
    @classmethod
    def _code_ref(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                code_digest(value)
            except InvalidInput as exc:
                raise ValueError(exc.detail) from None
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> JobSource:
        given = [field for field in ("uri", "docker_image", "code") if getattr(self, field) is not None]
        if len(given) != 1:
            found = f"got {' and '.join(given)}" if given else "got none"
            raise ValueError(f"give exactly one of uri (+ git_version), docker_image or code; {found}")
        if self.git_version is not None and self.uri is None:
            raise ValueError("git_version goes with a git uri")
        return self

    def run_fields(self) -> dict[str, str]:
        """The source as a run's spec takes it (``uri``, ``git_version``, ``docker_image``):
        uploaded code is a run's ``uri``."""
        fields = {
            "uri": self.uri or self.code,
            "git_version": self.git_version,
            "docker_image": self.docker_image,
        }
        return {key: value for key, value in fields.items() if value is not None}


def _json_schema(schema: dict[str, Any] | None, info: ValidationInfo) -> dict[str, Any] | None:
    """Refuse at create a schema no run could be checked against (a typo like ``"nubmer"``
    would otherwise surface as every launch failing). A version read back from a store was
    checked when it was created: checking a schema costs milliseconds (jsonschema walks its
    metaschema), which every listing would otherwise pay per job."""
    if schema is None or (info.context or {}).get(_CHECKED):
        return None if schema is None else schema
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    # no $schema: the newest draft; a $schema jsonschema does not know is refused, not guessed
    dialect = schema.get("$schema")
    if dialect is not None and not isinstance(dialect, str):
        raise ValueError("$schema must be a string (the URI of a JSON Schema draft)")
    validator = validator_for(schema, default=None) if dialect is not None else validator_for(schema)
    if validator is None:
        raise ValueError(f"unknown $schema {str(schema['$schema'])[:120]!r}")
    try:
        validator.check_schema(schema)
    except SchemaError as exc:
        where = ".".join(str(part) for part in exc.absolute_path) or "(the schema itself)"
        raise ValueError(f"not a valid JSON Schema at {where}: {exc.message}") from None
    return schema


class JobSpec(BaseModel):
    """What a job is: the body of ``POST /jobs``."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    source: JobSource
    entry_point: EntryPoint = Field(default_factory=list)
    args: list[BoundedStr] = Field(default_factory=list, max_length=MAX_ARGS)
    env: Annotated[
        dict[EnvName, BoundedStr], Field(max_length=MAX_ENV_ENTRIES), AfterValidator(check_env_names)
    ] = Field(default_factory=dict)
    input_schema: Annotated[BoundedJsonObject | None, AfterValidator(_json_schema)] = Field(
        default=None, description="JSON Schema of a run's run_config (W&B's overrides.run_config)"
    )
    description: str | None = Field(default=None, max_length=MAX_STRING_CHARS)

    @model_validator(mode="after")
    def _fits_one_record(self) -> JobSpec:
        """Every version is kept whole in one record (a DynamoDB item holds at most 400 KB)."""
        size = len(self.model_dump_json())
        if size > MAX_CONFIG_BYTES:
            raise ValueError(f"a job is at most {MAX_CONFIG_BYTES} bytes as JSON; this one is {size}")
        return self


class Job(JobSpec):
    """One stored version of a job; never changed once stored."""

    version: int = Field(ge=1)
    created_at: datetime

    @property
    def ref(self) -> str:
        """``NAME:vN``: what a run launched from this version records."""
        return job_ref(self.name, self.version)


def check_run_config(schema: dict[str, Any] | None, run_config: dict[str, Any]) -> None:
    """Check a run's ``run_config`` against a job's ``input_schema`` (None: anything goes).

    Raises InvalidInput naming the path of the most relevant error (jsonschema's
    ``best_match``), e.g. field ``run_config.lr``: ``'x' is not of type 'number'``; a
    schema whose ``$ref`` points outside itself is refused (field ``input_schema``):
    launchq never fetches a schema from the network.
    """
    if schema is None:
        return
    from jsonschema.exceptions import best_match
    from jsonschema.validators import validator_for
    from referencing.exceptions import Unresolvable

    validator = validator_for(schema)(schema)
    try:
        error: SchemaViolation | None = best_match(validator.iter_errors(run_config))
    except Unresolvable as exc:
        raise InvalidInput(
            f"the job's schema refers to what it does not hold: {exc}", field="input_schema"
        ) from None
    if error is not None:
        path = ".".join(["run_config", *(str(part) for part in error.absolute_path)])
        raise InvalidInput(error.message, field=path)


def stored_version(spec: JobSpec, version: int, now: datetime) -> Job:
    """``spec`` as version ``version`` of its name, created ``now`` (what a store keeps)."""
    fields = {**spec.model_dump(), "version": version, "created_at": now}
    return Job.model_validate(fields, context={_CHECKED: True})


def load_job(text: str) -> Job:
    """A version from its stored JSON (``Job.model_dump_json``), its schema not checked again."""
    return Job.model_validate_json(text, context={_CHECKED: True})


def unknown_job(name: str, version: int | None = None) -> NotFound:
    """The NotFound every store raises for a job name or version it does not hold."""
    if version is None:
        return NotFound(f"job {name!r} does not exist", field="job")
    return NotFound(f"job {name!r} has no version v{version}", field="job")
