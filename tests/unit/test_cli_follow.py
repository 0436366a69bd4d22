"""``runs logs -f``'s pieces: build steps read from real builders' logs, the waiting line, the exit status."""

from __future__ import annotations

from typing import Any

import pytest

from launchq.cli import runs as runs_module
from launchq.cli.follow import EXIT_DEAD_LETTER, EXIT_STOPPED, BuildSteps, outcome_code, waiting_line
from tests.unit.cli_fake_server import FakeApi, Recorded, cli, run_record

# `docker build` with the legacy builder (DOCKER_BUILDKIT=0)
DOCKER_LEGACY = """\
Sending build context to Docker daemon  4.096kB
Step 1/9 : FROM python:3.11-slim
 ---> 8c7f2b2f6c1d
Step 2/9 : ENV PYTHONUNBUFFERED=1
 ---> Running in 3b1c0a2d9e4f
Removing intermediate container 3b1c0a2d9e4f
 ---> 1f2e3d4c5b6a
Step 4/9 : RUN pip install --no-cache-dir -r requirements.txt
 ---> Running in 77aa66bb55cc
Collecting numpy
Successfully built 0a1b2c3d4e5f
"""

# `docker build` with BuildKit, its plain progress (what a pipe gets), multi-stage
BUILDKIT = """\
#0 building with "default" instance using docker driver
#1 [internal] load build definition from Dockerfile
#1 transferring dockerfile: 345B done
#1 DONE 0.0s
#5 [1/6] FROM docker.io/library/python:3.11-slim@sha256:2ec5a4a5c3e919570f57675471f081d6299668d909feabd8d4803c6c61af666c
#5 DONE 0.1s
#6 [2/6] WORKDIR /app
#6 CACHED
#9 [builder 4/6] RUN pip install --no-cache-dir -r requirements.txt
#9 2.345 Collecting numpy
#9 DONE 12.3s
"""  # noqa: E501 - a real line is as long as it is

# `buildah bud --isolation chroot` on this machine's kind (Debian 12), launchq's command line first
BUILDAH = """\
$ buildah bud --isolation chroot --pull=never --format oci --platform linux/amd64 -f /w/Dockerfile -t 127.0.0.1:5000/t:abc /w
STEP 1/5: FROM scratch
STEP 2/5: COPY a.txt /a.txt
STEP 3/5: ENV X=1
STEP 4/5: WORKDIR /app
STEP 5/5: COPY a.txt ./b.txt
COMMIT 127.0.0.1:5000/t:abc
Getting image source signatures
Copying blob sha256:814db34405dbb34addf65912299e503b228d44f32caebff9ab6ec7f767380454
Writing manifest to image destination
--> 64a6a35a944
Successfully tagged 127.0.0.1:5000/t:abc
$ buildah push --tls-verify=false 127.0.0.1:5000/t:abc
"""  # noqa: E501

# kaniko's executor (INFO lines padded with spaces, as it writes them)
KANIKO = """\
INFO[0000] Retrieving image manifest nginx:alpine       \n\
INFO[0001] Built cross stage deps: map[]                \n\
INFO[0001] Executing 0 build triggers                   \n\
INFO[0001] Building stage 'nginx:alpine' [idx: '0', base-idx: '-1'] \n\
INFO[0001] Unpacking rootfs as cmd COPY . . requires it. \n\
INFO[0004] WORKDIR /app                                 \n\
INFO[0004] Cmd: workdir                                 \n\
INFO[0004] COPY . .                                     \n\
INFO[0004] Taking snapshot of files...                  \n\
INFO[0006] RUN npm install                              \n\
INFO[0008] cmd: /bin/sh                                 \n\
INFO[0015] Pushing image to registry.example.com/project/web-app:a7b8c9d\n\
INFO[0022] Pushed image to 1 destinations\n\
"""


def _steps(log: str) -> tuple[list[str], BuildSteps]:
    parser = BuildSteps()
    found = [step for line in log.splitlines() if (step := parser.feed(line)) is not None]
    return found, parser


def test_docker_legacy_steps() -> None:
    steps, parser = _steps(DOCKER_LEGACY)
    assert steps == [
        "step 1/9 FROM python:3.11-slim",
        "step 2/9 ENV PYTHONUNBUFFERED=1",
        "step 4/9 RUN pip install --no-cache-dir -r requirements.txt",
    ]
    assert parser.recognised


def test_buildkit_steps_skip_internal_vertices_and_name_the_stage() -> None:
    steps, _ = _steps(BUILDKIT)
    assert steps[0].startswith("step 1/6 FROM docker.io/library/python:3.11-slim@sha256:")
    assert steps[1:] == [
        "step 2/6 WORKDIR /app",
        "step 4/6 (builder) RUN pip install --no-cache-dir -r requirements.txt",
    ]


def test_buildah_steps_commit_and_launchqs_own_command_lines() -> None:
    steps, _ = _steps(BUILDAH)
    assert steps == [
        "buildah bud",
        "step 1/5 FROM scratch",
        "step 2/5 COPY a.txt /a.txt",
        "step 3/5 ENV X=1",
        "step 4/5 WORKDIR /app",
        "step 5/5 COPY a.txt ./b.txt",
        "committing 127.0.0.1:5000/t:abc",
        "pushing 127.0.0.1:5000/t:abc",
    ]


def test_podman_and_old_buildah_steps_without_a_total() -> None:
    assert BuildSteps().feed("STEP 3: RUN make") == "step 3 RUN make"


def test_kaniko_instructions_are_counted_and_its_chatter_is_not_a_step() -> None:
    steps, parser = _steps(KANIKO)
    assert steps == [
        "step 1 WORKDIR /app",
        "step 2 COPY . .",
        "step 3 RUN npm install",
        "pushing registry.example.com/project/web-app:a7b8c9d",
    ]
    assert parser.recognised


def test_an_unknown_log_is_not_recognised_so_its_lines_are_shown() -> None:
    steps, parser = _steps("compiling the world\n[1/3] almost a step\nStep one: nope\n")
    assert steps == []
    assert not parser.recognised


# -- the waiting line ----------------------------------------------------------------------------
def _run(state: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": "r1",
        "queue": "gpu",
        "state": state,
        "position": None,
        "reason": "",
        "events": [],
        **fields,
    }


def test_a_queued_run_behind_a_full_queue() -> None:
    line = waiting_line(_run("queued", position=3), {"name": "gpu", "max_jobs": 2, "active": 2})
    assert line == "queued: position 3 in queue gpu (2 ahead), queue at max_jobs 2/2"


@pytest.mark.parametrize(
    ("queue", "expected"),
    [
        ({"max_jobs": 4, "active": 1}, "1/4 slots in use, waiting to be claimed"),
        ({"max_jobs": -1, "active": 7}, "7 active (no max_jobs), waiting to be claimed"),
        (None, "waiting to be claimed"),
    ],
)
def test_a_queued_run_with_free_slots(queue: dict[str, Any] | None, expected: str) -> None:
    line = waiting_line(_run("queued", position=1), queue)
    assert line == f"queued: position 1 in queue gpu (next in line), {expected}"


def test_claimed_building_and_starting_say_the_latest_events_reason() -> None:
    events = [
        {"to_state": "queued", "reason": "enqueued"},
        {"to_state": "claimed", "reason": "claimed by dispatcher on build-host pid 12"},
        {"to_state": "building", "reason": "building 127.0.0.1:5000/t:abc with buildah"},
        {"to_state": "starting", "reason": "submitted to local-process"},
    ]
    assert (
        waiting_line(_run("claimed", events=events[:2]), None) == "claimed by dispatcher on build-host pid 12"
    )
    assert waiting_line(_run("building", events=events[:3]), None) == (
        "building image: building 127.0.0.1:5000/t:abc with buildah"
    )
    assert waiting_line(_run("starting", events=events), None) == "starting: submitted to local-process"


# -- the exit status -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("state", "exit_code", "status"),
    [
        ("finished", 0, 0),
        ("failed", 3, 3),
        ("failed", 255, 255),
        ("failed", None, 1),  # a failed build: no exit code
        ("failed", -9, 1),  # killed by a signal
        ("failed", 300, 1),
        ("stopped", -15, EXIT_STOPPED),
        ("cancelled", None, EXIT_STOPPED),
        ("dead_letter", None, EXIT_DEAD_LETTER),
    ],
)
def test_the_exit_status_is_the_runs_outcome(state: str, exit_code: int | None, status: int) -> None:
    assert outcome_code(state, exit_code) == status


def test_the_codes_for_stopped_and_dead_letter_differ_from_each_other_and_from_success_and_cli_errors() -> (
    None
):
    assert len({EXIT_STOPPED, EXIT_DEAD_LETTER, 0, 1, 2}) == 5


# -- the follow loop against a scripted API ----------------------------------------------------------
def _script_build(fake: FakeApi, pieces: list[str], waits: int) -> None:
    """A run that builds for ``waits`` polls of its job log, then prints ``trained`` and finishes;
    its build log grows by one of ``pieces`` at each read."""
    polls = {"job": 0}
    build_chunks = {sum(map(len, pieces[:i])): piece for i, piece in enumerate(pieces)}

    def logs(request: Recorded) -> tuple[int, Any]:
        offset = int(request.query["offset"][0])
        if request.query["source"] == ["build"]:
            text = build_chunks.get(offset, "")
            return 200, {"text": text, "next_offset": offset + len(text), "state": "building"}
        polls["job"] += 1
        if polls["job"] <= waits:
            return 200, {"text": "", "next_offset": 0, "state": "building"}
        if offset == 0:
            return 200, {"text": "trained\n", "next_offset": 8, "state": "running"}
        return 200, {"text": "", "next_offset": 8, "state": "finished"}

    fake.reply_with("GET", "/runs/r1/logs", logs)
    events = [
        {"to_state": "building", "reason": "building reg/img:abc with kaniko", "at": "2026-01-02T03:04:05Z"}
    ]
    fake.reply("GET", "/runs/r1", 200, run_record("r1", state="building", events=events))


def test_follow_shows_each_build_step_as_the_log_reaches_it(
    fake: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a build whose log arrives over three polls, a step split across two of them
    monkeypatch.setattr(runs_module, "POLL_SECONDS", 0.01)
    _script_build(
        fake, ["STEP 1/3: FROM base\nSTEP 2/3: COP", "Y a /a\n", "STEP 3/3: RUN make\nok\n"], waits=4
    )

    # WHEN the run is followed
    result = cli(fake, "runs", "logs", "r1", "-f")

    # THEN stderr names each step once, whole, in order; stdout has only the job's output
    assert result.exit_code == 0, result.output
    assert result.stdout == "trained\n"
    assert result.stderr.splitlines() == [
        "building image: step 1/3 FROM base",
        "building image: step 2/3 COPY a /a",
        "building image: step 3/3 RUN make",
        "run r1 finished",
    ]


def test_follow_shows_a_build_log_of_an_unknown_format_line_by_line(
    fake: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runs_module, "POLL_SECONDS", 0.01)
    _script_build(fake, ["compiling the world\n", "linking\n"], waits=3)

    result = cli(fake, "runs", "logs", "r1", "-f")

    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "compiling the world",
        "building image: building reg/img:abc with kaniko",
        "linking",
        "run r1 finished",
    ]


def test_follow_of_a_failed_run_exits_with_its_code_and_says_it(fake: FakeApi) -> None:
    fake.reply("GET", "/runs/r1/logs", 200, {"text": "", "next_offset": 0, "state": "failed"})
    fake.reply(
        "GET", "/runs/r1", 200, run_record("r1", state="failed", exit_code=7, reason="exited with code 7")
    )

    result = cli(fake, "runs", "logs", "r1", "-f")

    assert result.exit_code == 7
    assert result.stderr == "run r1 failed (exit code 7)\n"


def test_follow_of_a_dead_lettered_run_exits_125_with_the_reason(fake: FakeApi) -> None:
    fake.reply("GET", "/runs/r1/logs", 200, {"text": "", "next_offset": 0, "state": "dead_letter"})
    fake.reply("GET", "/runs/r1", 200, run_record("r1", state="dead_letter", reason="image [gpu] not found"))

    result = cli(fake, "runs", "logs", "r1", "-f")

    assert result.exit_code == EXIT_DEAD_LETTER == 125
    assert result.stderr == "run r1 dead_letter: image [gpu] not found\n"
