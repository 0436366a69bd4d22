"""launchq's one edge to the Azure SDKs' errors: ``azure_call`` and ``import_sdk``.

Every Azure adapter (the Service Bus doorbell and its dead letters, the Tables store) runs its
SDK calls inside ``azure_call``, so no ``azure.core`` or ``azure.servicebus`` exception crosses
a port (STYLE: "Translate SDK errors at the adapter boundary"), and imports the SDK through
``import_sdk``, so a missing ``azure`` extra is a BackendUnavailable naming the package, not an
ImportError in a dispatcher loop. The shape is ``gcp.errors.gcp_call``'s: a table from the
error's class name (or a base's, nearest first) to launchq's error, which the caller extends
for its call (e.g. ``ResourceModifiedError`` -> StaleWrite for an ETag-guarded write); an
error not in it is BackendUnavailable -- Azure did not answer, asked to retry, or refused in a
way the caller did not expect, which is a deployment fault, not the user's.

The detail reads "<action> failed: <error name>: <Azure's message>". Azure's messages name
the resource and the status; they never carry the connection string or a SAS token.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import ModuleType

from launchq.errors import BackendUnavailable, LaunchqError

__all__ = ["Translation", "azure_call", "codes", "import_sdk"]

Translation = Callable[[str], LaunchqError]
"""Builds launchq's error from a detail: an error class, or e.g. ``partial(InvalidInput, field=...)``."""

_MESSAGE_LIMIT = 300  # Azure's messages can carry a whole response body; the detail needs the gist


def codes(kind: Translation, *names: str) -> dict[str, Translation]:
    """A table sending each of Azure's error class names to ``kind``; tables combine with ``|``."""
    return dict.fromkeys(names, kind)


@contextmanager
def azure_call(
    action: str,
    table: Mapping[str, Translation] | None = None,
    *,
    field: str | None = None,
) -> Iterator[None]:
    """Run the block; an Azure SDK error raised in it leaves as one of launchq's errors.

    ``field`` goes to every error whose translation names none. Raises what ``table`` says for
    the error's class (or a base class), else BackendUnavailable.
    """
    core = import_sdk("azure.core.exceptions", "azure-core")
    try:
        yield
    except core.AzureError as exc:
        names = [cls.__name__ for cls in type(exc).__mro__]
        found = next((table[name] for name in names if table and name in table), BackendUnavailable)
        said = " ".join(str(getattr(exc, "message", None) or exc).split())[:_MESSAGE_LIMIT]
        error = found(f"{action} failed: {names[0]}: {said}")
        if error.field is None:
            error.field = field
        raise error from exc


def import_sdk(module: str, package: str) -> ModuleType:
    """``module`` of the Azure SDK. Raises BackendUnavailable naming ``package`` when it is not
    installed (launchq's ``azure`` extra: ``pip install 'launchq[azure]'``)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BackendUnavailable(
            f"{module} is not installed: pip install 'launchq[azure]' (or {package})"
        ) from exc
