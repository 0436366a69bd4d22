"""A kubernetes run pulls images launchq built with the push registry's own credentials."""

from __future__ import annotations

import base64
import json

from launchq.adapters.registries.fake import FakeRegistry
from launchq.adapters.targets.kubernetes import registry_pull_secret
from launchq.ports import RegistryCredentials

LOGIN = RegistryCredentials(username="robot", password="s3cret-token", server="registry.test")


def test_an_image_of_the_registry_gets_its_credentials_as_a_docker_config() -> None:
    registry = FakeRegistry("registry.test/team/train", login=LOGIN)
    pull = registry_pull_secret(registry)
    assert pull is not None

    config = pull(registry.image_uri("5d41402abc4b2a76b9719d91"))

    assert config is not None
    auth = json.loads(config)["auths"]["registry.test"]["auth"]
    assert base64.b64decode(auth).decode() == "robot:s3cret-token"


def test_images_elsewhere_and_registries_without_a_login_get_nothing() -> None:
    with_login = registry_pull_secret(FakeRegistry("registry.test/team/train", login=LOGIN))
    without = registry_pull_secret(FakeRegistry("registry.test/team/train"))
    assert with_login is not None
    assert without is not None

    assert with_login("docker.io/library/python:3.11") is None
    assert with_login("python:3.11") is None
    assert without("registry.test/team/train:abc") is None
    assert registry_pull_secret(None) is None


def test_the_credentials_never_show_in_their_repr() -> None:
    assert "s3cret-token" not in repr(LOGIN)
