"""``launchq runs logs -f`` on a run whose image is built: what holds it on stderr while buildah
builds, the job's outcome as the exit status. A real ``launchq serve -c`` with the buildah
builder, a real local registry and SageMaker on a moto server, as in ``test_local_build_e2e``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.integration.conftest import buildah_sagemaker_configs
from tests.servers import launchq_serve

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "launchq.cli.main"]


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LAUNCHQ_URL": url}
    return subprocess.run([*CLI, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=180)


def test_follow_shows_the_build_steps_as_they_run_then_ends_with_the_run(
    tmp_path: Path, aws_env: dict[str, str], oci_registry: str, python_base_image: str, buildah_storage: Path
) -> None:
    # GIVEN a server that builds code into images with buildah and submits them to SageMaker
    config, queue_config = buildah_sagemaker_configs(
        tmp_path, f"{oci_registry}/team/follow", python_base_image
    )
    with launchq_serve(tmp_path / "data", "--config", str(config)) as url:
        assert (
            _cli(
                url, "queue", "create", "sm", "--resource", "sagemaker", "--config", str(queue_config)
            ).returncode
            == 0
        )
        # a source whose Dockerfile takes a few seconds, so the follow sees it build step by step
        source = tmp_path / "src"
        source.mkdir()
        (source / "train.py").write_text("print('trained')\n")
        (source / "Dockerfile.slow").write_text(
            f"FROM {python_base_image}\nRUN sleep 1\nRUN sleep 1\nRUN sleep 1\nCOPY train.py /app/\n"
        )
        code = _cli(url, "code", "push", str(source)).stdout.strip()
        launched = _cli(
            url,
            "launch",
            "-q",
            "sm",
            "-u",
            code,
            "-D",
            "Dockerfile.slow",
            "-E",
            "python train.py --follow-me",
        )
        assert launched.returncode == 0, launched.stderr
        run_id = launched.stdout.strip()

        # WHEN the run is followed from the moment it was launched
        followed = _cli(url, "runs", "logs", "-f", run_id)

    # THEN stderr said the image was being built, by which builder, then showed buildah's
    # steps as they ran (the build's log is read live, before the build records its id), and
    # the follow ended with the run's outcome
    assert followed.returncode == 0, followed.stderr
    lines = followed.stderr.splitlines()
    steps = [line for line in lines if re.match(r"building image: step \d+/\d+ ", line)]
    assert steps, lines
    numbers = [int(re.match(r"building image: step (\d+)/", line)[1]) for line in steps]  # type: ignore[index]
    assert numbers == sorted(set(numbers)), steps  # each step once, in order (polls may skip some)
    assert len(numbers) >= 2, steps  # three one-second steps: the follow saw the build move on
    assert lines[-1] == f"run {run_id} finished"
