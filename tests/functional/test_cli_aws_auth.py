"""The README's "Deploy to AWS" CLI commands, word for word, through IAM auth as API Gateway does it.

A real ``launchq serve`` (its SageMaker target talking to moto over HTTP) stands for the deployed
API; in front of it, ``tests.sigv4_proxy`` verifies every request's SigV4 signature from the bytes
that arrived, refusing with API Gateway's 403s. The installed ``launchq`` command runs each README
line in its own process with credentials in the environment, as a user's shell would have them.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest

from tests.servers import launchq_serve
from tests.sigv4_proxy import MISMATCH, AccessKey, SigV4Proxy, Verifier

REPO = Path(__file__).resolve().parents[2]
LAUNCHQ = str(Path(sys.executable).parent / "launchq")
KEY = AccessKey("AKIDLAUNCHQDEPLOY001", "deploy/secret+0123456789abcdefghijklmn", "a-session-token")
PLACEHOLDERS = {
    "<TrainingRoleArn output>": "arn:aws:iam::123456789012:role/launchq-training",
    "<bucket>": "launchq-test-output",
    "<account>": "123456789012",
    "<region>": "us-east-1",
}


def readme_aws_commands() -> list[str]:
    """Every ``launchq ...`` command in the README's "Deploy to AWS" section, quotes and all."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Deploy to AWS", 1)[1].split("\n## ", 1)[0]
    commands: list[str] = []
    for block in section.split("```bash\n")[1:]:
        pending = ""
        for line in block.split("```", 1)[0].splitlines():
            pending = f"{pending}\n{line}" if pending else line
            try:
                shlex.split(pending, comments=True)
            except ValueError:  # an open quote: the command goes on to the next line
                continue
            if pending.startswith("launchq "):
                commands.append(pending)
            pending = ""
    return commands


@pytest.fixture
def gateway(tmp_path: Path, moto_url: str) -> Iterator[SigV4Proxy]:
    """``launchq serve`` with the sagemaker target (moto), behind the SigV4-verifying stand-in."""
    config = tmp_path / "launch-config.yaml"
    config.write_text("environment: {type: aws, region: us-east-1}\n")
    server_aws = {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    with (
        launchq_serve(tmp_path / "data", "-c", str(config), **server_aws) as upstream,
        SigV4Proxy(Verifier([KEY], "us-east-1"), upstream) as proxy,
    ):
        yield proxy


def user_env(proxy: SigV4Proxy, tmp_path: Path, **aws: str) -> dict[str, str]:
    """A shell with LAUNCHQ_URL and LAUNCHQ_AUTH set and only the AWS settings given here."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAUNCHQ_"))}
    return {
        **env,
        "LAUNCHQ_URL": proxy.url,
        "LAUNCHQ_AUTH": "aws-iam",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "COLUMNS": "200",
        **aws,
    }


WITH_KEY = {
    "AWS_ACCESS_KEY_ID": KEY.access_key_id,
    "AWS_SECRET_ACCESS_KEY": KEY.secret,
    "AWS_SESSION_TOKEN": str(KEY.session_token),
    "AWS_DEFAULT_REGION": "us-east-1",
}


def sh(line: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run one README command line with the installed ``launchq``, placeholders filled in."""
    for placeholder, value in PLACEHOLDERS.items():
        line = line.replace(placeholder, value)
    argv = shlex.split(line, comments=True)
    return subprocess.run([LAUNCHQ, *argv[1:]], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


def test_readme_aws_commands_succeed_signed(gateway: SigV4Proxy, tmp_path: Path, moto_url: str) -> None:
    # GIVEN the README's commands, and AWS credentials in the environment
    commands = readme_aws_commands()
    assert any(c.startswith("launchq queue create sagemaker") for c in commands), commands
    assert any(c.startswith("launchq launch -q sagemaker") for c in commands), commands
    env = user_env(gateway, tmp_path, **WITH_KEY)

    # WHEN each runs as the README has it (a <RUN_ID> is the run launched before it)
    run_id = ""
    for line in commands:
        done = sh(line.replace("<RUN_ID>", run_id), env)
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
        if line.startswith("launchq launch"):
            run_id = done.stdout.strip()

    # THEN every request was signed and verified, and the run reached SageMaker (moto)
    assert gateway.refused == []
    assert len(gateway.verified) >= len(commands)
    listed = sh("launchq runs list -q sagemaker", env)
    assert listed.returncode == 0, listed.stderr
    assert run_id in listed.stdout
    sagemaker = boto3.client(
        "sagemaker", endpoint_url=moto_url, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while (
        not (jobs := sagemaker.list_training_jobs()["TrainingJobSummaries"]) and time.monotonic() < deadline
    ):
        time.sleep(0.2)
    (job,) = jobs
    described = sagemaker.describe_training_job(TrainingJobName=job["TrainingJobName"])
    assert described["AlgorithmSpecification"]["TrainingImage"] == (
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/train:1"
    )
    assert described["RoleArn"] == PLACEHOLDERS["<TrainingRoleArn output>"]
    shown = sh(f"launchq runs show {run_id}", env)
    assert shown.returncode == 0, shown.stderr
    assert run_id in shown.stdout


REFUSALS = {  # case: (AWS settings, LAUNCHQ_AUTH, what stderr says)
    "no credentials": ({}, "aws-iam", "Error: --auth: no AWS credentials found to sign requests with"),
    "wrong secret": (
        {**WITH_KEY, "AWS_SECRET_ACCESS_KEY": "NotTheSecret/123"},
        "aws-iam",
        f"refused the request (HTTP 403): {MISMATCH}",
    ),
    "unknown key": (
        {**WITH_KEY, "AWS_ACCESS_KEY_ID": "AKIDSOMEONEELSE00001"},
        "aws-iam",
        "security token included",
    ),
    "unsigned": (WITH_KEY, "none", "refused the request (HTTP 403): Forbidden — the request was not signed"),
}


def test_without_valid_credentials_each_command_fails_clearly(gateway: SigV4Proxy, tmp_path: Path) -> None:
    for case, (aws, auth, message) in REFUSALS.items():
        # GIVEN a shell without usable credentials (or with signing turned off)
        env = {**user_env(gateway, tmp_path, **aws), "LAUNCHQ_AUTH": auth}

        for line in readme_aws_commands():
            # WHEN a README command runs
            done = sh(line, env)

            # THEN it fails with one line saying why, exit 2, no secret shown
            assert done.returncode == 2, (case, line, done.stderr)
            assert message in done.stderr, case
            assert done.stderr.count("\n") == 1, case
            assert "Traceback" not in done.stderr
            assert KEY.secret not in done.stderr
            assert "NotTheSecret" not in done.stderr

    # AND nothing reached the API, nothing was stored
    assert gateway.verified == []
    assert len(gateway.refused) == 3 * len(readme_aws_commands())  # "no credentials" never sends
    upstream = httpx.get(f"{gateway.upstream}/queues", timeout=10).json()["queues"]
    assert [q["name"] for q in upstream] == ["default"]
