"""launchq's own checks of the Kubernetes objects it builds: names, label values and enums.

The official OpenAPI schemas (what ``kubernetes-validate`` and the API server's structural
validation use) say a name is a string and ``restartPolicy`` is a string; they do not say
which strings. The API server refuses the rest with a 422 only at submit, when the run has
already left its queue. These checks catch the same mistakes at enqueue, naming the field.

Rules (Kubernetes' own, from ``apimachinery/pkg/util/validation``):

- object names of Jobs and of every resource launchq creates: an RFC 1123 label, at most
  63 characters (a Job's name becomes its pods' ``job-name`` label, so the DNS-subdomain
  limit of 253 does not apply), as are namespaces and container names;
- label values: at most 63 characters, alphanumerics with ``-``, ``_``, ``.`` inside;
- environment variable names: C identifiers, plus ``-`` and ``.`` (what the server accepts).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from launchq.errors import InvalidInput

__all__ = [
    "check_enum",
    "check_label_value",
    "check_name",
    "env_name_problem",
]

RFC1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")

RESTART_POLICIES = frozenset({"Never", "OnFailure"})  # "Always" is refused for a Job's pods
PULL_POLICIES = frozenset({"Always", "IfNotPresent", "Never"})
SECCOMP_TYPES = frozenset({"RuntimeDefault", "Localhost", "Unconfined"})


def check_name(value: object, field: str, what: str = "name") -> str:
    """``value`` when it is an RFC 1123 label (lower case, digits, '-', at most 63 characters)."""
    if not isinstance(value, str) or not RFC1123_LABEL.match(value):
        raise InvalidInput(
            f"{value!r} is not a valid Kubernetes {what}: 1-63 lower-case letters, digits and '-', "
            "starting and ending with a letter or digit",
            field=field,
        )
    return value


def check_label_value(value: object, field: str) -> str:
    """``value`` when Kubernetes accepts it as a label value."""
    if not isinstance(value, str) or len(value) > 63 or not LABEL_VALUE.match(value):
        raise InvalidInput(
            f"{value!r} is not a valid Kubernetes label value: at most 63 letters, digits, '-', '_' "
            "and '.', starting and ending with a letter or digit",
            field=field,
        )
    return value


def check_enum(mapping: Mapping[str, Any], key: str, allowed: Iterable[str], field: str) -> None:
    """``mapping[key]``, when present, is one of ``allowed``."""
    if key not in mapping:
        return
    choices = sorted(allowed)
    if mapping[key] not in choices:
        raise InvalidInput(f"{mapping[key]!r} is not one of {', '.join(choices)}", field=f"{field}.{key}")


def env_name_problem(name: object) -> str | None:
    """Why ``name`` is not a valid container environment variable name, or None."""
    if not isinstance(name, str) or not ENV_NAME.match(name):
        return f"{name!r} is not a valid environment variable name (letters, digits, '_', '-', '.')"
    return None
