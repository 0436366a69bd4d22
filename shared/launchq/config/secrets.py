"""The ``secrets`` a queue config names: which secret becomes which variable of a run's job.

W&B's agent hands its own API key to every job in plain text, and a job that needs a token
gets it by inheriting the agent's whole environment. launchq gives a run only the secrets
its queue config names, under ``secrets``: a mapping from the variable the job sees to
where the value lives. A run cannot add or change one (``resolve._QUEUE_ONLY``): whoever
may submit must not choose which of the server's secrets a job reads.

.. code-block:: yaml

    secrets:
      HF_TOKEN: env:HF_TOKEN                      # the server's environment (local-process)
      DB_PASSWORD: file:/run/secrets/db-password  # a file the server reads (local-process)
      WANDB_API_KEY: k8s:wandb/api-key            # Secret "wandb", key "api-key" (kubernetes)
      OPENAI_KEY: {from: secretsmanager, name: prod/openai}   # documented; see below
      DB_URL: {from: ssm, name: /prod/db-url}

The compact ``<source>:<reference>`` string and the object form (``from`` plus the
source's fields, as a K8s user writes ``secretKeyRef: {name, key}``) mean the same. Each
target takes the sources it can hand over without the value passing through a place where
it is stored in the clear:

- ``local-process``: ``env`` (a variable of the server's environment, read when the job
  starts) and ``file`` (an absolute path; the value is the file's text without its final
  newline). The values are registered for redaction (``launchq.redaction``).
- ``kubernetes``: ``k8s`` / ``kubernetes`` only: the variable becomes
  ``valueFrom.secretKeyRef`` in the Job spec, so the value never leaves the cluster.
- ``secretsmanager`` and ``ssm`` name AWS secrets; no target resolves them yet (SageMaker's
  ``Environment`` would store the value in the clear in the training job), so they are
  validated and refused with that reason wherever they are used.

A source a target cannot use is refused at queue create and at enqueue, naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from pathlib import PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from launchq.errors import InvalidInput
from launchq.validation import invalid_input

#: A variable a job can be given: a C identifier (what every shell and SDK reads back).
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Kubernetes' own rules: a Secret's name is a DNS subdomain; a key is ``[-._a-zA-Z0-9]+``.
_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_K8S_KEY = re.compile(r"^[-._a-zA-Z0-9]{1,253}$")
_AWS_NAME = re.compile(r"^[A-Za-z0-9/_+=.@:-]{1,2048}$")
#: What the compact form's source words mean.
_ALIASES = {"k8s": "kubernetes", "sm": "secretsmanager"}
SOURCES = ("env", "file", "kubernetes", "secretsmanager", "ssm")
_FORBIDDEN = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class EnvSecret(BaseModel):
    """A variable of the server's environment (the server must have it when the job starts)."""

    model_config = _FORBIDDEN
    source: Literal["env"] = Field(alias="from")
    name: str = Field(description="the server's variable")

    @field_validator("name")
    @classmethod
    def _variable(cls, value: str) -> str:
        if not ENV_NAME.match(value):
            raise ValueError(f"{value!r} is not an environment variable name")
        return value


class FileSecret(BaseModel):
    """A file the server reads when the job starts (e.g. a mounted Docker/K8s secret)."""

    model_config = _FORBIDDEN
    source: Literal["file"] = Field(alias="from")
    path: str = Field(description="absolute path on the server")

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if "\0" in value or not PurePosixPath(value).is_absolute():
            raise ValueError(f"{value!r} is not an absolute path")
        return value


class KubernetesSecret(BaseModel):
    """A key of a Secret in the job's namespace: ``valueFrom.secretKeyRef``."""

    model_config = _FORBIDDEN
    source: Literal["kubernetes"] = Field(alias="from")
    name: str = Field(description="the Secret's name")
    key: str = Field(description="the key inside the Secret")
    optional: bool = False

    @field_validator("name")
    @classmethod
    def _secret_name(cls, value: str) -> str:
        if not _K8S_NAME.match(value):
            raise ValueError(f"{value!r} is not a Secret name (lower-case DNS subdomain)")
        return value

    @field_validator("key")
    @classmethod
    def _secret_key(cls, value: str) -> str:
        if not _K8S_KEY.match(value):
            raise ValueError(f"{value!r} is not a Secret key (letters, digits, '-', '_', '.')")
        return value


class AwsSecret(BaseModel):
    """A Secrets Manager secret (name or ARN) or an SSM parameter (name or ARN)."""

    model_config = _FORBIDDEN
    source: Literal["secretsmanager", "ssm"] = Field(alias="from")
    name: str

    @field_validator("name")
    @classmethod
    def _aws_name(cls, value: str) -> str:
        if not _AWS_NAME.match(value):
            raise ValueError(f"{value!r} is not a secret or parameter name or ARN")
        return value


SecretRef = EnvSecret | FileSecret | KubernetesSecret | AwsSecret
_MODELS: dict[str, type[SecretRef]] = {
    "env": EnvSecret,
    "file": FileSecret,
    "kubernetes": KubernetesSecret,
    "secretsmanager": AwsSecret,
    "ssm": AwsSecret,
}


def _expand(text: str) -> dict[str, Any]:
    """The object form of a compact ``<source>:<reference>`` string."""
    source, sep, ref = text.partition(":")
    source = _ALIASES.get(source, source)
    if not sep or source not in SOURCES or not ref:
        raise ValueError(
            f"{text!r} is not a secret reference: write <source>:<reference> with source one of "
            "env, file, k8s, secretsmanager, ssm (e.g. env:HF_TOKEN, k8s:wandb/api-key)"
        )
    if source == "file":
        return {"from": source, "path": ref}
    if source == "kubernetes":
        name, _, key = ref.partition("/")
        return {"from": source, "name": name, "key": key}
    return {"from": source, "name": ref}


def parse_secrets(value: Any, field: str, allowed: Collection[str]) -> dict[str, SecretRef]:
    """``value`` (the config's ``secrets``) as variable -> reference; only ``allowed`` sources.

    Raises InvalidInput naming ``field.<VARIABLE>`` and the reason.
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        kind = type(value).__name__
        raise InvalidInput(f"must be a mapping of variable to secret, got {kind}", field=field)
    refs: dict[str, SecretRef] = {}
    for variable, raw in value.items():
        where = f"{field}.{variable}"
        if not isinstance(variable, str) or not ENV_NAME.match(variable):
            raise InvalidInput(f"{variable!r} is not an environment variable name", field=where)
        try:
            ref = _parse_one(_expand(raw) if isinstance(raw, str) else raw)
        except (ValueError, TypeError) as exc:
            raise _invalid(exc, where) from None
        if ref.source not in allowed:
            raise InvalidInput(_not_here(ref.source, allowed), field=where)
        refs[variable] = ref
    return refs


def _parse_one(raw: Any) -> SecretRef:
    """One reference in its object form. Raises ValueError (a ValidationError for its fields)."""
    if not isinstance(raw, Mapping):
        raise TypeError("must be <source>:<reference> or a mapping with from (e.g. {from: env, name: X})")
    source = _ALIASES.get(str(raw.get("from")), raw.get("from"))
    model = _MODELS.get(source) if isinstance(source, str) else None
    if model is None:
        raise ValueError(f"from: must be one of {', '.join(SOURCES)} (k8s for kubernetes), got {source!r}")
    return model.model_validate({**raw, "from": source})


def _invalid(exc: ValueError | TypeError, where: str) -> InvalidInput:
    if isinstance(exc, ValidationError):
        return invalid_input(exc, where)
    return InvalidInput(str(exc), field=where)


def _not_here(source: str, allowed: Collection[str]) -> str:
    takes = f"it takes: {', '.join(sorted(allowed))}" if allowed else "it takes none yet"
    if source in ("secretsmanager", "ssm"):
        why = "the target would store the value in the clear"
        return f"{source} secrets are not handed to jobs yet ({why}); {takes}"
    return f"{source} secrets cannot be used by this target; {takes}"


def read_value(ref: EnvSecret | FileSecret, environ: Mapping[str, str]) -> str:
    """The value of a server-side secret. Raises LookupError saying what is missing."""
    if isinstance(ref, EnvSecret):
        if ref.name not in environ:
            raise LookupError(f"the server's environment has no {ref.name}")
        return environ[ref.name]
    try:
        with open(ref.path, encoding="utf-8") as handle:
            return handle.read().removesuffix("\n").removesuffix("\r")
    except OSError as exc:
        raise LookupError(f"cannot read {ref.path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise LookupError(f"{ref.path} is not UTF-8 text") from None
