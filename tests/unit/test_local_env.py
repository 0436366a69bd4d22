"""What a local-process job inherits from the server's environment (``local_env``)."""

from __future__ import annotations

import pytest

from launchq.adapters.targets.local_config import parse_config
from launchq.adapters.targets.local_env import inherited, is_credential
from launchq.errors import InvalidInput

SERVER = {
    "PATH": "/usr/bin",
    "HOME": "/home/ml",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "CUDA_VISIBLE_DEVICES": "0,1",
    "VIRTUAL_ENV": "/home/ml/.venv",
    "WANDB_BASE_URL": "https://wandb.example",
    "WANDB_API_KEY": "wandb-secret",
    "LAUNCHQ_DATA_DIR": "/srv/launchq",
    "LAUNCHQ_API_KEY": "lq-secret",
    "AWS_SECRET_ACCESS_KEY": "aws-secret",
    "AWS_ACCESS_KEY_ID": "AKIA",
    "GITHUB_TOKEN": "gh-secret",
    "HF_TOKEN": "hf-secret",
    "CUSTOM_FLAG": "1",
}


def test_a_job_gets_the_basics_and_the_non_secret_settings_only() -> None:
    assert inherited(SERVER) == {
        "PATH": "/usr/bin",
        "HOME": "/home/ml",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "CUDA_VISIBLE_DEVICES": "0,1",
        "VIRTUAL_ENV": "/home/ml/.venv",
        "WANDB_BASE_URL": "https://wandb.example",
        "LAUNCHQ_DATA_DIR": "/srv/launchq",
    }


def test_inherit_env_names_and_patterns_opt_in_even_to_credentials() -> None:
    got = inherited(SERVER, ["HF_TOKEN", "CUSTOM_*", "WANDB_API_KEY"])
    assert {name for name in got if name not in inherited(SERVER)} == {
        "HF_TOKEN",
        "CUSTOM_FLAG",
        "WANDB_API_KEY",
    }
    assert "AWS_SECRET_ACCESS_KEY" not in got


@pytest.mark.parametrize(
    ("name", "credential"),
    [("WANDB_API_KEY", True), ("LAUNCHQ_TOKEN", True), ("wandb_password", True), ("WANDB_PROJECT", False)],
)
def test_credential_names_are_recognised(name: str, credential: bool) -> None:
    assert is_credential(name) is credential


@pytest.mark.parametrize("bad", ["", "A=B", "X\0"])
def test_a_bad_inherit_env_entry_is_refused_naming_the_field(bad: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_config({"inherit_env": [bad]})
    assert caught.value.field is not None
    assert caught.value.field.startswith("resource_args.local-process.inherit_env")
