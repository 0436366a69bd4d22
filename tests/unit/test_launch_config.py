"""launch-config.yaml: every W&B key from the docs parses; mistakes name the key and the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from launchq.domain.launch_config import (
    AcrRegistryConfig,
    AwsEnvironmentConfig,
    AzureEnvironmentConfig,
    DockerBuilderConfig,
    EcrRegistryConfig,
    GcpEnvironmentConfig,
    GcrRegistryConfig,
    KanikoBuilderConfig,
    LaunchConfig,
    NoopBuilderConfig,
    OciRegistryConfig,
    load_launch_config,
    parse_launch_config,
)
from launchq.errors import InvalidInput

SOURCE = "/etc/agent/launch-config.yaml"


def refused(text: str, source: str = SOURCE) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_launch_config(text, source)
    return caught.value


# --------------------------------------------------------------------------- the docs' examples


def test_core_keys_from_the_docs_parse() -> None:
    # GIVEN the core agent config of the W&B docs
    text = "# -1 = unlimited\nmax_jobs: -1\n\nentity: my-team\n\nqueues:\n  - gpu-queue\n"
    # WHEN it is parsed
    config = parse_launch_config(text, SOURCE)
    # THEN every key has the value written
    assert config.max_jobs == -1
    assert config.entity == "my-team"
    assert config.queues == ["gpu-queue"]


@pytest.mark.parametrize(
    ("builder_type", "model"),
    [("docker", DockerBuilderConfig), ("kaniko", KanikoBuilderConfig), ("noop", NoopBuilderConfig)],
)
def test_each_documented_builder_type_parses(builder_type: str, model: type) -> None:
    # GIVEN `builder: type: docker | kaniko | noop`
    store = "  build-context-store: s3://b/ctx\n" if builder_type == "kaniko" else ""
    config = parse_launch_config(f"builder:\n  type: {builder_type}\n{store}", SOURCE)
    # THEN the builder block is the model of that type
    assert isinstance(config.builder, model)
    assert config.builder is not None
    assert config.builder.type == builder_type


def test_full_kaniko_example_parses_with_hyphenated_keys() -> None:
    # GIVEN the docs' Kaniko builder with a context store, job name and credentials secret
    text = """
builder:
  type: kaniko
  build-context-store: s3://my-bucket/build-contexts/
  build-job-name: wandb-image-build
  secret-name: aws-creds
  secret-key: credentials
  kaniko-image: gcr.io/kaniko-project/executor:v1.23.0
  kaniko-config:
    spec:
      template:
        spec:
          serviceAccountName: kaniko
"""
    # WHEN it is parsed
    builder = parse_launch_config(text, SOURCE).builder
    # THEN each hyphenated key lands on its attribute
    assert isinstance(builder, KanikoBuilderConfig)
    assert builder.build_context_store == "s3://my-bucket/build-contexts/"
    assert builder.build_job_name == "wandb-image-build"
    assert builder.secret_name == "aws-creds"
    assert builder.secret_key == "credentials"
    assert builder.kaniko_image == "gcr.io/kaniko-project/executor:v1.23.0"
    assert builder.kaniko_config["spec"]["template"]["spec"]["serviceAccountName"] == "kaniko"
    # AND dumping by alias gives back W&B's spelling
    dumped = builder.model_dump(by_alias=True)
    assert dumped["build-context-store"] == "s3://my-bucket/build-contexts/"
    assert dumped["secret-key"] == "credentials"


@pytest.mark.parametrize(
    "store",
    ["s3://bucket/ctx/", "gs://bucket/ctx", "https://account.blob.core.windows.net/container/ctx"],
)
def test_build_context_store_accepts_s3_gcs_and_azure_blob(store: str) -> None:
    config = parse_launch_config(f"builder:\n  type: kaniko\n  build-context-store: {store}\n", SOURCE)
    assert isinstance(config.builder, KanikoBuilderConfig)
    assert config.builder.build_context_store == store


def test_build_context_store_that_is_not_a_bucket_uri_is_refused() -> None:
    error = refused("builder:\n  type: kaniko\n  build-context-store: /tmp/ctx\n")
    assert error.field == "builder.build-context-store"
    assert SOURCE in str(error)


def test_secret_name_without_secret_key_is_refused() -> None:
    # W&B silently ignores half a secret; the build then fails without credentials.
    error = refused("builder:\n  type: kaniko\n  build-context-store: s3://b/c\n  secret-name: aws-creds\n")
    assert error.field == "builder"
    assert "secret-key" in error.detail


def test_aws_ecr_example_parses() -> None:
    # GIVEN the docs' AWS tab
    text = """
environment:
  type: aws
  region: us-east-1
registry:
  type: ecr
  uri: 123456789012.dkr.ecr.us-east-1.amazonaws.com/my-repo
"""
    config = parse_launch_config(text, SOURCE)
    assert isinstance(config.environment, AwsEnvironmentConfig)
    assert config.environment.region == "us-east-1"
    assert isinstance(config.registry, EcrRegistryConfig)
    assert config.registry.uri == "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-repo"


def test_ecr_with_only_a_repository_name_parses() -> None:
    # GIVEN the commented-out alternative of the docs: `repository: my-repository-name`
    text = "registry:\n  type: ecr\n  repository: my-repository-name\n"
    registry = parse_launch_config(text, SOURCE).registry
    assert isinstance(registry, EcrRegistryConfig)
    assert registry.repository == "my-repository-name"
    assert registry.uri is None


def test_ecr_without_uri_or_repository_is_refused() -> None:
    error = refused("registry:\n  type: ecr\n")
    assert error.field == "registry"
    assert "repository" in error.detail


def test_gcp_artifact_registry_examples_parse() -> None:
    # GIVEN the docs' GCP tab, once with a uri and once with repository + image-name
    with_uri = """
environment:
  type: gcp
  region: us-central1
  project: my-project
registry:
  type: gcr
  uri: us-central1-docker.pkg.dev/my-project/my-repo/my-image
"""
    with_names = "registry:\n  type: gcr\n  repository: my-artifact-repo\n  image-name: my-image-name\n"
    first = parse_launch_config(with_uri, SOURCE)
    second = parse_launch_config(with_names, SOURCE)
    assert isinstance(first.environment, GcpEnvironmentConfig)
    assert first.environment.project == "my-project"
    assert isinstance(first.registry, GcrRegistryConfig)
    assert first.registry.uri == "us-central1-docker.pkg.dev/my-project/my-repo/my-image"
    assert isinstance(second.registry, GcrRegistryConfig)
    assert (second.registry.repository, second.registry.image_name) == ("my-artifact-repo", "my-image-name")


def test_gcr_repository_without_image_name_is_refused() -> None:
    error = refused("registry:\n  type: gcr\n  repository: my-artifact-repo\n")
    assert error.field == "registry"
    assert "image-name" in error.detail


def test_azure_acr_example_parses_without_a_region() -> None:
    # GIVEN the docs' Azure tab (W&B's own model wrongly requires `region` here)
    text = "environment:\n  type: azure\nregistry:\n  type: acr\n  uri: https://my-registry.azurecr.io/my-repository\n"
    config = parse_launch_config(text, SOURCE)
    assert isinstance(config.environment, AzureEnvironmentConfig)
    assert isinstance(config.registry, AcrRegistryConfig)
    assert config.registry.uri == "https://my-registry.azurecr.io/my-repository"


def test_acr_without_uri_is_refused_naming_the_key() -> None:
    error = refused("registry:\n  type: acr\n")
    assert error.field == "registry.uri"
    assert "required" in error.detail


def test_helm_values_launch_config_string_parses() -> None:
    # GIVEN a Helm values.yaml whose launchConfig holds the agent config as a string
    values = """
namespace: wandb
launchConfig: |
  queues:
    - k8s-queue
  max_jobs: 4
  environment:
    type: aws
    region: us-east-1
  registry:
    type: ecr
    uri: 123456789012.dkr.ecr.us-east-1.amazonaws.com/launch
  builder:
    type: kaniko
    build-context-store: s3://my-bucket/contexts
"""
    text = yaml.safe_load(values)["launchConfig"]
    # WHEN the string is parsed
    config = parse_launch_config(text, "values.yaml:launchConfig")
    # THEN it is the same config a file would give
    assert config.queues == ["k8s-queue"]
    assert config.max_jobs == 4
    assert isinstance(config.builder, KanikoBuilderConfig)
    assert config.builder.build_context_store == "s3://my-bucket/contexts"


def test_tab_indented_example_from_the_docs_is_refused_with_a_hint() -> None:
    # GIVEN the docs' EKS example, which is indented with tabs (invalid YAML)
    error = refused("queues:\n\t- my-queue\nmax_jobs: 2\n")
    # THEN the error says where and why
    assert "line 2" in error.detail
    assert "tabs" in error.detail
    assert SOURCE in error.detail


def test_queue_and_project_are_accepted_and_queue_is_folded_into_queues() -> None:
    # GIVEN the singular `queue` (which W&B's own validation rejects) and `project`
    config = parse_launch_config("queue: solo\nqueues: [a, solo, b]\nproject: vision\n", SOURCE)
    # THEN the queue is served once, and the project is kept
    assert config.queues == ["a", "solo", "b"]
    assert config.project == "vision"
    only = parse_launch_config("queue: solo\n", SOURCE)
    assert only.queues == ["solo"]


def test_other_wandb_agent_keys_parse() -> None:
    text = "max_schedulers: -1\nverbosity: 2\nsecure_mode: true\nstopped_run_timeout: 30\n"
    config = parse_launch_config(text, SOURCE)
    assert (config.max_schedulers, config.verbosity, config.secure_mode, config.stopped_run_timeout) == (
        -1,
        2,
        True,
        30,
    )


def test_empty_blocks_mean_not_configured() -> None:
    config = parse_launch_config("builder: {}\nregistry:\nenvironment: {}\n", SOURCE)
    assert (config.builder, config.registry, config.environment) == (None, None, None)


def test_python_names_are_accepted_too() -> None:
    builder = KanikoBuilderConfig(
        type="kaniko", build_context_store="gs://b/ctx", secret_name="s", secret_key="k"
    )
    assert builder.build_context_store == "gs://b/ctx"


# --------------------------------------------------------------------------- max_jobs


def test_max_jobs_minus_one_means_unlimited() -> None:
    assert parse_launch_config("max_jobs: -1\n", SOURCE).max_jobs == -1


@pytest.mark.parametrize("value", [0, -2])
def test_max_jobs_zero_or_below_minus_one_is_refused(value: int) -> None:
    error = refused(f"max_jobs: {value}\n")
    assert error.field == "max_jobs"
    assert SOURCE in str(error)


def test_max_jobs_defaults_to_one() -> None:
    assert parse_launch_config("entity: me\n", SOURCE).max_jobs == 1


# --------------------------------------------------------------------------- mistakes


def test_unknown_top_level_key_is_refused_naming_key_and_file() -> None:
    error = refused("quues:\n  - a\n")
    assert error.field == "quues"
    assert SOURCE in str(error)
    assert "did you mean 'queues'" in error.detail
    assert "pydantic" not in str(error)


def test_unknown_nested_key_is_refused_naming_the_path_and_file() -> None:
    error = refused("builder:\n  type: kaniko\n  build-context-store: s3://b/c\n  kaniko_imag: my/kaniko\n")
    assert error.field == "builder.kaniko_imag"
    assert SOURCE in error.detail
    assert "kaniko-image" in error.detail


def test_key_of_another_builder_type_is_refused() -> None:
    # GIVEN a docker builder with a Kaniko-only key: W&B ignores it silently
    error = refused("builder:\n  type: docker\n  secret-name: creds\n")
    assert error.field == "builder.secret-name"


def test_unknown_environment_key_is_refused() -> None:
    error = refused("environment:\n  type: aws\n  region: us-east-1\n  zone: a\n")
    assert error.field == "environment.zone"


def test_unsupported_builder_type_is_refused_with_the_choices() -> None:
    error = refused("builder:\n  type: podman\n")
    assert error.field == "builder.type"
    assert "kaniko" in error.detail
    assert "'podman'" in error.detail


def test_block_without_type_is_refused() -> None:
    error = refused("registry:\n  uri: example.com/repo\n")
    assert error.field == "registry.type"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("max_jobs: many\n", "max_jobs"),
        ("queues: my-queue\n", "queues"),
        ("queues: [a, 3]\n", "queues[1]"),
        ("verbosity: -1\n", "verbosity"),
        ("builder: docker\n", "builder"),
        (
            "builder:\n  type: kaniko\n  build-context-store: s3://b/c\n  kaniko-config: [1]\n",
            "builder.kaniko-config",
        ),
    ],
)
def test_wrong_types_are_refused_naming_the_key(text: str, field: str) -> None:
    error = refused(text)
    assert error.field == field
    assert SOURCE in error.detail


def test_several_mistakes_are_all_reported() -> None:
    error = refused("max_jobs: 0\nverbosity: -1\n")
    assert error.field == "max_jobs"
    assert "verbosity" in error.detail


def test_malformed_yaml_is_refused_with_line_and_file() -> None:
    error = refused("builder:\n  type: [docker\nqueues: []\n")
    assert "malformed YAML at line" in error.detail
    assert SOURCE in error.detail


def test_duplicate_keys_are_refused() -> None:
    error = refused("max_jobs: 2\nmax_jobs: 3\n")
    assert "duplicate key 'max_jobs'" in error.detail
    assert "line 2" in error.detail


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "3\n"])
def test_non_mapping_document_is_refused(text: str) -> None:
    error = refused(text)
    assert "mapping" in error.detail
    assert SOURCE in error.detail


def test_empty_document_gives_the_defaults() -> None:
    assert parse_launch_config("# nothing yet\n", SOURCE) == LaunchConfig()


# --------------------------------------------------------------------------- loading


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_default_path_falls_back_to_wandb_config(home: Path) -> None:
    # GIVEN only W&B's file exists
    wandb_file = write(home / ".config/wandb/launch-config.yaml", "entity: from-wandb\n")
    # WHEN no path is given
    config, used = load_launch_config()
    # THEN W&B's file is read
    assert used == wandb_file
    assert config.entity == "from-wandb"


def test_launchq_config_wins_over_wandb_config(home: Path) -> None:
    write(home / ".config/wandb/launch-config.yaml", "entity: from-wandb\n")
    ours = write(home / ".config/launchq/launch-config.yaml", "entity: from-launchq\n")
    config, used = load_launch_config()
    assert used == ours
    assert config.entity == "from-launchq"


def test_no_config_file_gives_defaults(home: Path) -> None:
    config, used = load_launch_config()
    assert used is None
    assert config == LaunchConfig()


def test_explicit_path_is_read(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "agent.yaml", "max_jobs: 3\n")
    config, used = load_launch_config(path)
    assert (config.max_jobs, used) == (3, path)


def test_explicit_path_with_tilde_uses_the_home_directory(home: Path) -> None:
    path = write(home / "cfg/agent.yaml", "max_jobs: 5\n")
    config, used = load_launch_config(Path("~/cfg/agent.yaml"))
    assert (config.max_jobs, used) == (5, path)


def test_missing_explicit_path_is_refused_naming_the_file(home: Path) -> None:
    # GIVEN a default config exists, but the explicit file does not
    write(home / ".config/wandb/launch-config.yaml", "entity: x\n")
    missing = home / "nope.yaml"
    with pytest.raises(InvalidInput) as caught:
        load_launch_config(missing)
    # THEN the explicit file is named, not silently replaced by the default
    assert str(missing) in str(caught.value)


def test_errors_in_a_loaded_file_name_that_file(home: Path) -> None:
    path = write(
        home / ".config/wandb/launch-config.yaml",
        "builder:\n  type: kaniko\n  build-context-store: s3://b/c\n  kaniko_imag: x\n",
    )
    with pytest.raises(InvalidInput) as caught:
        load_launch_config()
    assert caught.value.field == "builder.kaniko_imag"
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("kind", ["kaniko", "codebuild"])
def test_a_remote_builder_without_build_context_store_is_refused(kind: str) -> None:
    # GIVEN a builder that builds elsewhere but no place to put the build context
    text = f"builder:\n  type: {kind}\n"
    # WHEN the config is read  THEN the missing key is named, with the file
    with pytest.raises(InvalidInput) as info:
        parse_launch_config(text, SOURCE)
    assert info.value.field == "builder.build-context-store"
    assert "is required" in info.value.detail
    assert SOURCE in info.value.detail


# --------------------------------------------------------------------------- W&B users' own files


@pytest.mark.parametrize(("written", "value"), [('"5"', 5), ("'-1'", -1), ('" 3 "', 3), ("+2", 2)])
def test_max_jobs_may_be_a_numeric_string_as_in_wandb(written: str, value: int) -> None:
    # GIVEN `max_jobs: "5"` -- W&B's agent reads it with int(), so such files exist
    config = parse_launch_config(f"max_jobs: {written}\nqueues: [gpu]\n", SOURCE)
    # THEN it is that number (-1 still meaning unlimited)
    assert config.max_jobs == value


def test_other_integer_keys_may_be_numeric_strings_too() -> None:
    text = 'max_schedulers: "-1"\nverbosity: "2"\nstopped_run_timeout: "30"\n'
    config = parse_launch_config(text, SOURCE)
    assert (config.max_schedulers, config.verbosity, config.stopped_run_timeout) == (-1, 2, 30)


@pytest.mark.parametrize("written", ['"0"', '"five"', "true", "2.5", '"2.5"', '"-3"'])
def test_max_jobs_that_is_no_valid_count_is_still_refused(written: str) -> None:
    error = refused(f"max_jobs: {written}\n")
    assert error.field == "max_jobs"
    assert SOURCE in error.detail


@pytest.mark.parametrize(
    ("uri", "model"),
    [
        ("https://123456789012.dkr.ecr.us-east-1.amazonaws.com/my-repository", EcrRegistryConfig),
        ("us-central1-docker.pkg.dev/my-project/my-artifact-repo/my-image", GcrRegistryConfig),
        ("gcr.io/my-project/my-image", GcrRegistryConfig),
        ("https://my-registry.azurecr.io/my-repository", AcrRegistryConfig),
    ],
)
def test_registry_uri_without_type_takes_the_type_from_the_uri(uri: str, model: type) -> None:
    # GIVEN W&B's documented registry block with its `type` line left out
    config = parse_launch_config(f"registry:\n  uri: {uri}\n", SOURCE)
    # THEN the registry is of the kind the host names, with the URI as written
    assert isinstance(config.registry, model)
    assert getattr(config.registry, "uri", None) == uri


def test_registry_uri_that_names_no_cloud_asks_for_the_type() -> None:
    # GIVEN a registry on a host no cloud owns, and no type
    error = refused("registry:\n  uri: 127.0.0.1:5000/team/train\n")
    # THEN the error asks for registry.type, says why, and offers oci
    assert error.field == "registry.type"
    assert "127.0.0.1:5000/team/train" in error.detail
    assert "oci" in error.detail


def test_a_written_registry_type_wins_over_the_uri() -> None:
    uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/train"
    config = parse_launch_config(f"registry: {{type: oci, uri: {uri}}}\n", SOURCE)
    assert isinstance(config.registry, OciRegistryConfig)


@pytest.mark.parametrize(
    ("destination", "model"),
    [
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com/train", EcrRegistryConfig),
        ("https://us-central1-docker.pkg.dev/proj/repo/train", GcrRegistryConfig),
        ("launchq01.azurecr.io/train", AcrRegistryConfig),
        ("127.0.0.1:5000/team/train", OciRegistryConfig),
    ],
)
def test_builder_destination_is_where_built_images_go(destination: str, model: type) -> None:
    # GIVEN W&B's newer form: no registry block, the repository under builder.destination
    config = parse_launch_config(f"builder:\n  type: docker\n  destination: {destination}\n", SOURCE)
    # THEN it is the registry images are pushed to (any other host is a plain OCI registry)
    assert isinstance(config.registry, model)
    assert getattr(config.registry, "uri", None) == destination


@pytest.mark.parametrize(
    ("destination", "part"),
    [
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com/train:latest", "':latest'"),
        ("127.0.0.1:5000/team/train@sha256:" + "a" * 64, "@sha256"),
    ],
)
def test_builder_destination_with_a_tag_is_refused_as_in_wandb(destination: str, part: str) -> None:
    error = refused(f"builder:\n  type: docker\n  destination: '{destination}'\n")
    assert error.field == "builder.destination"
    assert part in error.detail
    assert SOURCE in error.detail


def test_builder_destination_and_the_same_registry_agree() -> None:
    uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/train"
    text = f"registry: {{type: ecr, uri: 'https://{uri}'}}\nbuilder: {{type: docker, destination: {uri}}}\n"
    config = parse_launch_config(text, SOURCE)
    assert isinstance(config.registry, EcrRegistryConfig)
    assert config.registry.uri == f"https://{uri}"


def test_builder_destination_and_another_registry_are_refused() -> None:
    # GIVEN a registry block and a destination that name two different repositories
    text = (
        "registry: {type: ecr, uri: 123456789012.dkr.ecr.us-east-1.amazonaws.com/old}\n"
        "builder: {type: docker, destination: 123456789012.dkr.ecr.us-east-1.amazonaws.com/new}\n"
    )
    error = refused(text)
    # THEN launchq refuses to pick one silently, naming both
    assert error.field == "builder.destination"
    assert "/old" in error.detail
    assert "/new" in error.detail


def test_builder_platform_is_kept_and_checked() -> None:
    config = parse_launch_config("builder: {type: docker, platform: linux/arm64}\n", SOURCE)
    assert config.builder is not None
    assert config.builder.platform == "linux/arm64"
    error = refused("builder: {type: docker, platform: linux/386}\n")
    assert error.field == "builder.platform"


@pytest.mark.parametrize("key", ["destination: 127.0.0.1:5000/team/train", "platform: linux/arm64"])
def test_a_noop_builder_with_a_destination_or_platform_is_refused(key: str) -> None:
    # the noop builder never builds: accepting these would be accepting and ignoring them
    error = refused(f"builder:\n  type: noop\n  {key}\n")
    assert error.field == f"builder.{key.split(':', maxsplit=1)[0]}"
    assert "never builds" in error.detail
