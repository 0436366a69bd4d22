"""``launchq keys ...``: create, list and revoke API keys (an admin key's work, through the API).

An entity's first key is made on the server's data directory (``--data-dir``, as ``serve``
reads it), because with auth on nothing can be done through the API without one: ``keys create
--data-dir DIR --entity E --role admin`` works only while entity E holds no key at all. Every
later key of E is made through the API (``LAUNCHQ_API_KEY`` holding an admin key of E).

A new key is printed once, alone on stdout (``export LAUNCHQ_API_KEY=$(launchq keys create ...)``);
lists never show a secret or a hash. The store and the service load only for ``--data-dir``.
"""

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from launchq.cli import options as opt
from launchq.cli.client import ApiClient, JsonObject, _segment
from launchq.cli.errors import CliError
from launchq.cli.options import client_from
from launchq.cli.render import Column, Listing, OutputFormat, print_listing, timestamp

keys_app = typer.Typer(help="Create, list and revoke API keys (admin keys only).", no_args_is_help=True)

ROLES = ("read", "submit", "admin")
KEYS = Listing(
    key="keys",
    columns=(
        Column("id", lambda k: str(k.get("id", ""))),
        Column("entity", lambda k: str(k.get("entity", ""))),
        Column("role", lambda k: str(k.get("role", ""))),
        Column("name", lambda k: str(k.get("name") or ""), drop=2),
        Column("created", lambda k: timestamp(k.get("created_at")), drop=3),
        Column("revoked", lambda k: timestamp(k.get("revoked_at")) if k.get("revoked_at") else "", drop=1),
    ),
    empty="no API keys",
)


def _role(value: str) -> str:
    if value not in ROLES:
        raise typer.BadParameter(f"must be one of {', '.join(ROLES)}")
    return value


def _first_key(data_dir: Path, entity: str | None, role: str, name: str) -> tuple[str, str]:
    """The first admin key, made on the store in ``data_dir``: (its id, the key)."""
    if entity is None:
        raise CliError("--entity: required with --data-dir (the entity the first admin key belongs to)")
    if role != "admin":
        raise CliError("--role: the first key, made on the data directory, is an admin key (--role admin)")
    from launchq.adapters.stores.sqlite import SqliteRunStore
    from launchq.local.settings import load_local_settings
    from launchq.service.api_keys import KeyService

    settings = load_local_settings(data_dir=data_dir)
    settings.require_store()
    store = SqliteRunStore(settings.db_path)
    try:
        record, token = KeyService(store).first_admin(entity, name)
    finally:
        store.close()
    return record.id, token


def _api(client: ApiClient, method: str, path: str, body: JsonObject | None = None) -> Any:
    # the keys routes through the client's own plumbing (its errors, its auth headers)
    return client._object(client._request(method, path, json=body))


@keys_app.command("create")
def create_key(
    ctx: typer.Context,
    role: Annotated[str, typer.Option("--role", "-r", callback=_role, help="read, submit or admin.")],
    entity: Annotated[
        str | None,
        typer.Option("--entity", "-e", help="Entity the key acts in.", show_default="the caller key's own"),
    ] = None,
    name: Annotated[str, typer.Option("--name", "-n", help="A note to tell keys apart.")] = "",
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Make an entity's first admin key on the server's data directory."),
    ] = None,
) -> None:
    """Create an API key and print it once on stdout (keep it: it cannot be shown again)."""
    if data_dir is not None:
        key_id, token = _first_key(data_dir, entity, role, name)
    else:
        body: JsonObject = {"role": role, "name": name, **({"entity": entity} if entity else {})}
        with client_from(ctx) as client:
            created = _api(client, "POST", "/keys", body)
        key_id, token = str(created.get("id")), str(created.get("key"))
    print(f"created API key {key_id} ({role}); it is shown only now:", file=sys.stderr)
    typer.echo(token)


@keys_app.command("list")
def list_keys(ctx: typer.Context, output: opt.Output = OutputFormat.TABLE) -> None:
    """List the API keys of your entity (revoked ones too), never their secrets."""
    with client_from(ctx) as client:
        keys = client._list(client._request("GET", "/keys"), "keys")
    print_listing(KEYS, keys, output)


@keys_app.command("revoke")
def revoke_key(
    ctx: typer.Context, key_id: Annotated[str, typer.Argument(help="The key's id (keys list).")]
) -> None:
    """Revoke a key: every request that sends it is refused from now on."""
    with client_from(ctx) as client:
        _api(client, "DELETE", f"/keys/{_segment(key_id)}")
    typer.echo(f"revoked API key {key_id}")
