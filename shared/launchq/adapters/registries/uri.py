"""Registry URIs of ``launch-config.yaml``'s ``registry.uri``: parsed, classified, validated.

The checks follow W&B Launch's (``validate_registry_uri``): an optional ``https://`` is
dropped, the URI names an image repository, and it never carries a tag or a digest --
launchq tags every image with the hash of its build (``BuildPlan.tag``). The known forms:

- Amazon ECR: ``<account>.dkr.ecr.<region>.amazonaws.com/<repository>``
- Google Artifact Registry: ``<region>-docker.pkg.dev/<project>/<repository>/<image>``, or a
  ``gcr.io`` repository it hosts: ``[us.|eu.|asia.]gcr.io/<project>/<image>``
- Azure Container Registry: ``[https://]<name>.azurecr.io/<repository>``
- any other OCI registry: ``host[:port]/path`` (``127.0.0.1:5000/team/img``)

``registry_kind`` tells the cloud from the host alone, for W&B configs that give a ``uri``
and no ``type`` (and for ``builder.destination``).

Stricter than W&B where W&B would only fail later, at push time: an ECR account is 12
digits, and repository paths follow the OCI distribution spec (lower case, ``._-``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from launchq.errors import InvalidInput

__all__ = [
    "RegistryKind",
    "RegistryUri",
    "artifact_registry_uri",
    "ecr_uri",
    "parse_registry_uri",
    "registry_kind",
    "split_host",
]

RegistryKind = Literal["ecr", "gcr", "acr", "oci"]
FIELD = "registry.uri"

# One path component of a repository name (OCI distribution spec).
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$")
_HOST = re.compile(
    r"^(?:localhost|[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*)(?::\d{1,5})?$"
)
_ECR_HOST = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d)\.(?P<domain>amazonaws\.com(?:\.cn)?)$"
)
_GAR_HOST = re.compile(r"^(?P<region>[a-z]+(?:-[a-z]+)*(?:\d+)?)-docker\.pkg\.dev$")
_ACR_HOST = re.compile(r"^(?P<name>[A-Za-z0-9]{5,50})\.azurecr\.io$")
# Container Registry's hosts, now served by Artifact Registry ("gcr.io repositories").
_GCR_HOSTS = ("gcr.io", "us.gcr.io", "eu.gcr.io", "asia.gcr.io")

_FORMS: dict[RegistryKind, str] = {
    "ecr": "<account-id>.dkr.ecr.<region>.amazonaws.com/<repository>",
    "gcr": "<region>-docker.pkg.dev/<project>/<repository>/<image> or gcr.io/<project>/<image>",
    "acr": "https://<registry-name>.azurecr.io/<repository>",
    "oci": "<host>[:<port>]/<repository path>",
}


@dataclass(frozen=True)
class RegistryUri:
    """A parsed registry URI: the registry ``host`` and the repository ``path`` inside it."""

    kind: RegistryKind
    host: str
    path: str
    region: str | None = None
    account: str | None = None  # ECR account id
    project: str | None = None  # Artifact Registry project
    name: str | None = None  # ACR registry name

    @property
    def uri(self) -> str:
        """The normalised URI (no scheme): ``host/path``."""
        return f"{self.host}/{self.path}"

    @property
    def repository(self) -> str:
        """The repository name a cloud API uses (ECR, ACR: the path; AR: its second part, or
        the host for a gcr.io repository)."""
        if self.kind == "gcr":
            return self.host if self.host in _GCR_HOSTS else self.path.split("/")[1]
        return self.path


def split_host(uri: str, field: str = FIELD) -> tuple[str, str]:
    """``host[:port]`` and the repository path of ``uri`` (an ``https://`` prefix is dropped).

    Raises InvalidInput (naming ``field``) when there is no host or no path.
    """
    text = _strip_scheme(uri, field)
    host, sep, path = text.partition("/")
    if not sep or not path or not host:
        raise InvalidInput(
            f"{uri!r} must name a registry host and a repository, e.g. {_FORMS['oci']}", field=field
        )
    # As in Docker references: a first part without '.' or ':' is a path, not a host.
    looks_like_host = "." in host or ":" in host or host == "localhost"
    if not looks_like_host or not _HOST.match(host):
        raise InvalidInput(
            f"{uri!r} does not start with a registry host[:port] (Docker Hub: docker.io/<user>/<image>)",
            field=field,
        )
    return host, path


def parse_registry_uri(uri: str, *, expect: RegistryKind | None = None, field: str = FIELD) -> RegistryUri:
    """Parse and validate ``uri``; with ``expect``, it must be of that kind.

    Raises InvalidInput (naming ``field``, ``registry.uri`` by default) for a tag or
    digest, a malformed repository path, or a URI that is not of the expected kind.
    """
    host, path = split_host(uri, field)
    _refuse_tag(uri, path, field)
    components = path.split("/")
    for component in components:
        if not _COMPONENT.match(component):
            raise InvalidInput(
                f"{uri!r}: {component!r} is not a valid repository name part "
                "(lower-case letters, digits and '.', '_', '-' between them)",
                field=field,
            )
    parsed = _classify(uri, host, path, components, field)
    if expect is not None and parsed.kind != expect:
        raise InvalidInput(f"{uri!r} is not of the form {_FORMS[expect]}", field=field)
    return parsed


def registry_kind(uri: str) -> RegistryKind | None:
    """The cloud registry ``uri``'s host names (ecr, gcr, acr), None for any other; never raises.

    The host alone decides, as W&B's ``registry_from_uri`` does; whether the rest of the
    URI is well formed is ``parse_registry_uri``'s business.
    """
    host = uri.strip().removeprefix("https://").partition("/")[0].lower()
    if ".ecr." in host and host.endswith((".amazonaws.com", ".amazonaws.com.cn")):
        return "ecr"
    if host.endswith("-docker.pkg.dev") or host in _GCR_HOSTS:
        return "gcr"
    if host.endswith(".azurecr.io"):
        return "acr"
    return None


_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")  # the OCI distribution spec's tag grammar


def tagged(uri: str, tag: str) -> str:
    """``<uri>:<tag>``. Raises InvalidInput (field ``tag``) for a tag the OCI spec forbids,
    before it can reach a URL or an API call."""
    if not _TAG.match(tag):
        raise InvalidInput(f"{tag!r} is not a valid image tag", field="tag")
    return f"{uri}:{tag}"


def ecr_uri(account: str, region: str, repository: str, domain: str = "amazonaws.com") -> str:
    """The ECR repository URI (validated like one read from a config)."""
    return parse_registry_uri(f"{account}.dkr.ecr.{region}.{domain}/{repository}", expect="ecr").uri


def artifact_registry_uri(region: str, project: str, repository: str, image: str) -> str:
    """The Artifact Registry image URI (validated like one read from a config)."""
    return parse_registry_uri(f"{region}-docker.pkg.dev/{project}/{repository}/{image}", expect="gcr").uri


def _strip_scheme(uri: str, field: str) -> str:
    text = uri.strip()
    if text.startswith("https://"):
        return text[len("https://") :].rstrip("/")
    if "://" in text:
        raise InvalidInput(
            f"{uri!r}: only an https:// prefix is allowed (for a plain-HTTP registry on "
            "127.0.0.1, give host:port/path and mark the registry insecure)",
            field=field,
        )
    return text.rstrip("/")


def _refuse_tag(uri: str, path: str, field: str) -> None:
    if "@" in path:
        raise InvalidInput(
            f"{uri!r} must not include a tag or digest (got {path[path.index('@') :]!r}): launchq "
            "tags each image with the hash of its source",
            field=field,
        )
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        raise InvalidInput(
            f"{uri!r} must not include a tag (got {last[last.index(':') :]!r}): launchq tags "
            "each image with the hash of its source",
            field=field,
        )


def _classify(uri: str, host: str, path: str, components: list[str], field: str) -> RegistryUri:
    kind = registry_kind(host)
    if kind == "ecr":
        ecr = _ECR_HOST.match(host)
        if not ecr:
            raise InvalidInput(f"{uri!r} is not of the form {_FORMS['ecr']}", field=field)
        return RegistryUri("ecr", host, path, region=ecr["region"], account=ecr["account"])
    if kind == "gcr":
        return _artifact_registry(uri, host, path, components, field)
    if kind == "acr":
        acr = _ACR_HOST.match(host)
        if not acr:
            raise InvalidInput(f"{uri!r} is not of the form {_FORMS['acr']}", field=field)
        return RegistryUri("acr", host.lower(), path, name=acr["name"].lower())
    return RegistryUri("oci", host, path)


def _artifact_registry(uri: str, host: str, path: str, components: list[str], field: str) -> RegistryUri:
    if host in _GCR_HOSTS:  # gcr.io/<project>/<image>: the repository is the host itself
        if len(components) < 2:
            raise InvalidInput(f"{uri!r} is not of the form gcr.io/<project>/<image>", field=field)
        return RegistryUri("gcr", host, path, project=components[0])
    gar = _GAR_HOST.match(host)
    if not gar or len(components) < 3:
        raise InvalidInput(
            f"{uri!r} is not of the form {_FORMS['gcr']} (an image name is required)", field=field
        )
    return RegistryUri("gcr", host, path, region=gar["region"], project=components[0])
