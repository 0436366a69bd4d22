"""Launch jobs (W&B's ``wandb job create/list/describe``, ``wandb launch -j``): named, versioned
recipes a run can be launched from.

A job keeps a source, an entry point, default args and env, and the JSON Schema of its inputs;
its versions never change once written. A run that names a job (``RunSpec.job``) is filled from
it at enqueue (``fill_run_spec``): what the run's own spec sets wins, a second source is refused,
and ``run_config`` is checked against the job's schema before it reaches the job as
``WANDB_CONFIG``, the variable W&B's agent gives a job its config in.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from launchq.api.limits import MAX_STRING_CHARS
from launchq.domain.jobs import Job, JobSpec, check_run_config, parse_job_ref
from launchq.domain.models import RunSpec
from launchq.errors import InvalidInput, NotFound
from launchq.service.context import Context
from launchq.validation import invalid_input

WANDB_CONFIG = "WANDB_CONFIG"
_SOURCE_FIELDS = ("uri", "git_version", "docker_image")


def _config_env(spec: RunSpec, env: dict[str, str]) -> dict[str, str]:
    """``env`` with the run's config as ``WANDB_CONFIG``; one given twice is refused."""
    if spec.run_config is None:
        return env
    if WANDB_CONFIG in spec.env:
        raise InvalidInput(
            f"give the config as run_config or as env {WANDB_CONFIG}, not both", field="run_config"
        )
    text = json.dumps(spec.run_config, separators=(",", ":"))
    if len(text) > MAX_STRING_CHARS:
        raise InvalidInput(
            f"is {len(text)} characters as JSON; at most {MAX_STRING_CHARS} fit in {WANDB_CONFIG}",
            field="run_config",
        )
    return {**env, WANDB_CONFIG: text}


def _job_fields(job: Job, spec: RunSpec) -> dict[str, Any]:
    """What ``job`` gives the run: its source, and entry point, args and env under the run's own."""
    given = [name for name in _SOURCE_FIELDS if getattr(spec, name)]
    if given:
        raise InvalidInput(
            f"{job.ref} brings its own source; leave {given[0]} unset, or launch without a job",
            field="job",
        )
    return {
        **job.source.run_fields(),
        "entry_point": spec.entry_point or job.entry_point,
        "args": spec.args or job.args,
    }


def fill_run_spec(spec: RunSpec, job: Job | None) -> RunSpec:
    """The spec a run of ``job`` (None: a run of no job) is launched with.

    Overrides follow W&B's: a non-empty ``entry_point`` or ``args`` of the run replaces the
    job's, the run's ``env`` is laid over the job's, and ``run_config`` becomes ``WANDB_CONFIG``.
    The result is validated again (bounds on env and args hold for the sum). Fields the caller
    did not set stay unset, so rules that ask what was set (a queue without prioritization) still can.
    Raises InvalidInput.
    """
    if job is None and spec.run_config is None:
        return spec
    fields = _job_fields(job, spec) if job is not None else {}
    env = {**job.env, **spec.env} if job is not None else dict(spec.env)
    if job is not None:
        check_run_config(job.input_schema, spec.run_config or {})
    fields["env"] = _config_env(spec, env)
    try:
        return RunSpec.model_validate({**spec.model_dump(exclude_unset=True), **fields})
    except ValidationError as exc:
        raise invalid_input(exc) from None


class JobService:
    """Creating job versions and reading them; ``resolve`` is what an enqueue calls."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def create(self, spec: JobSpec) -> Job:
        """Store ``spec`` as the next version of its name. A ``code://`` source must be uploaded
        already (``POST /code``): a job that can never run is refused now, not at every launch.

        Raises InvalidInput, NotFound (field ``source.code``), BackendUnavailable.
        """
        if spec.source.code is not None:
            self._check_code(spec.source.code)
        return self.ctx.store.add_job_version(spec, self.ctx.clock())

    def _check_code(self, ref: str) -> None:
        store = self.ctx.code_store
        if store is None:
            raise InvalidInput(
                "this deployment has no code store; use a git uri or an image", field="source.code"
            )
        with tempfile.TemporaryDirectory(prefix="launchq-job-") as scratch:
            try:
                store.fetch(ref, Path(scratch))
            except NotFound:
                raise NotFound(
                    f"nothing is uploaded as {ref}; upload it first (launchq code push DIR)",
                    field="source.code",
                ) from None

    def all(self) -> list[Job]:
        """The latest version of every job, by name."""
        return self.ctx.store.list_jobs()

    def versions(self, name: str) -> list[Job]:
        """Every version of ``name``, newest first. Raises NotFound (field ``job``)."""
        return self.ctx.store.list_job_versions(name)

    def get(self, name: str, version: int | None = None) -> Job:
        """One version (None: the latest). Raises NotFound (field ``job``)."""
        return self.ctx.store.get_job(name, version)

    def resolve(self, ref: str) -> Job:
        """The job ``NAME``, ``NAME:latest`` or ``NAME:vN`` names. Raises InvalidInput, NotFound."""
        name, version = parse_job_ref(ref)
        return self.get(name, version)
