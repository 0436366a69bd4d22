"""Config resolution: templates, variable checks, overrides, macros (and never the environment)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from launchq.config.resolve import (
    MACROS,
    MacroValues,
    check_macros,
    check_queue_settings,
    deep_merge,
    parse_config_text,
    placeholders,
    render,
    resolve_resource_args,
    substitute_macros,
    unwrap_resource,
)
from launchq.domain.models import Queue, QueueSettings, RunSpec
from launchq.errors import InvalidInput

K8S_CONFIG: dict[str, Any] = {
    "metadata": {"labels": {"team": "{{team}}"}},
    "spec": {
        "template": {
            "spec": {
                "containers": [
                    {
                        "image": "${image_uri}",
                        "resources": {"limits": {"nvidia.com/gpu": "{{gpus}}", "memory": "{{mem_gb}}Gi"}},
                    }
                ]
            }
        }
    },
}
K8S_VARIABLES: dict[str, Any] = {
    "gpus": {"type": "int", "min": 0, "max": 8, "default": 1},
    "mem_gb": {"type": "float", "min": 1, "max": 512, "default": 16},
    "team": {"type": "string", "enum": ["vision", "nlp"]},
}


def make_queue(**changes: Any) -> Queue:
    fields: dict[str, Any] = {
        "name": "gpu",
        "created_at": datetime(2024, 1, 1, tzinfo=UTC),
        "resource": "kubernetes",
        "config": copy.deepcopy(K8S_CONFIG),
        "template_variables": K8S_VARIABLES,
    }
    fields.update(changes)
    return Queue.model_validate(fields)


def make_spec(**changes: Any) -> RunSpec:
    fields: dict[str, Any] = {"template_variables": {"team": "vision"}}
    fields.update(changes)
    return RunSpec.model_validate(fields)


def container(resolved: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = resolved["spec"]["template"]["spec"]["containers"][0]
    return result


# --------------------------------------------------------------------------- config text


def test_json_config_text_parses() -> None:
    assert parse_config_text('{"spec": {"replicas": 2}}') == {"spec": {"replicas": 2}}


def test_yaml_config_text_parses() -> None:
    text = "spec:\n  containers:\n    - name: main\n      image: '${image_uri}'\n"
    assert parse_config_text(text) == {"spec": {"containers": [{"name": "main", "image": "${image_uri}"}]}}


def test_text_starting_like_json_is_read_as_json_only() -> None:
    # GIVEN broken JSON that YAML would quietly read as {"a": 1, "b": null}
    with pytest.raises(InvalidInput) as caught:
        parse_config_text('{"a": 1, "b": }')
    # THEN it is refused as JSON rather than turned into a different config
    assert "malformed JSON at line 1, column 15" in caught.value.detail


def test_empty_config_text_is_an_empty_mapping() -> None:
    assert parse_config_text("  \n") == {}


def test_malformed_json_is_refused_with_line_and_column() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_config_text('{\n  "a": 1,\n  "b": \n}', field="queue.config")
    assert caught.value.field == "queue.config"
    assert "malformed JSON at line 4, column 1" in caught.value.detail


def test_malformed_yaml_is_refused_with_line_and_column() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_config_text("spec:\n  a: [1, 2\n  b: 3\n")
    assert caught.value.field == "config"
    assert "malformed YAML at line" in caught.value.detail
    assert "column" in caught.value.detail


@pytest.mark.parametrize("text", ["[1, 2]", "- a\n- b\n", "42", '"just text"'])
def test_non_mapping_config_text_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_config_text(text)
    assert "mapping" in caught.value.detail


@pytest.mark.parametrize("text", ['{"a": 1, "a": 2}', "a: 1\na: 2\n"])
def test_duplicate_keys_are_refused_not_overwritten(text: str) -> None:
    with pytest.raises(InvalidInput, match="duplicate key 'a'"):
        parse_config_text(text)


def test_yaml_boolean_keys_are_refused() -> None:
    # GIVEN YAML 1.1 reading the key `on` as the boolean True
    with pytest.raises(InvalidInput, match="not a string"):
        parse_config_text("spec:\n  on: 3\n")


def test_yaml_dates_stay_strings() -> None:
    assert parse_config_text("metadata:\n  annotations:\n    since: 2024-01-01\n") == {
        "metadata": {"annotations": {"since": "2024-01-01"}}
    }


# --------------------------------------------------------------------------- placeholders and render


def test_placeholders_are_found_in_values_and_keys_with_whitespace() -> None:
    config = {"a": ["x-{{ one }}", {"{{two}}": "{{  three  }} and {{four}}"}], "n": 3, "b": "{not}"}
    assert placeholders(config) == {"one", "two", "three", "four"}


def test_render_keeps_the_type_of_a_lone_placeholder() -> None:
    # GIVEN a value that is exactly one placeholder and one inside a longer string
    config = {"replicas": "{{n}}", "ratio": "{{ r }}", "name": "job-{{n}}-{{r}}", "tags": ["{{n}}"]}
    # WHEN rendered
    rendered = render(config, {"n": 2, "r": 0.5})
    # THEN the lone ones keep their type and the embedded ones are formatted
    assert rendered == {"replicas": 2, "ratio": 0.5, "name": "job-2-0.5", "tags": [2]}
    assert isinstance(rendered["replicas"], int)


def test_render_replaces_placeholders_in_keys() -> None:
    assert render({"{{kind}}-spec": {"x": 1}}, {"kind": "gpu"}) == {"gpu-spec": {"x": 1}}


def test_render_does_not_mutate_its_input() -> None:
    config = {"a": {"b": ["{{n}}"]}}
    before = copy.deepcopy(config)
    render(config, {"n": 1})
    assert config == before


def test_render_refuses_a_placeholder_without_value() -> None:
    with pytest.raises(InvalidInput, match="'missing'"):
        render({"a": "{{missing}}"}, {})


def test_render_refuses_keys_that_collide() -> None:
    with pytest.raises(InvalidInput, match="both become"):
        render({"{{k}}": 1, "x": 2}, {"k": "x"})


# --------------------------------------------------------------------------- merge and unwrap


def test_deep_merge_merges_mappings_and_replaces_everything_else() -> None:
    base = {"spec": {"replicas": 1, "env": [{"name": "A"}], "labels": {"a": "1"}}, "kind": "Job"}
    override = {"spec": {"env": [{"name": "B"}], "labels": {"b": "2"}}, "kind": "PyTorchJob"}
    merged = deep_merge(base, override)
    assert merged == {
        "spec": {"replicas": 1, "env": [{"name": "B"}], "labels": {"a": "1", "b": "2"}},
        "kind": "PyTorchJob",
    }


def test_deep_merge_never_mutates_or_aliases_its_inputs() -> None:
    base = {"a": {"b": [1]}}
    override = {"a": {"c": {"d": 1}}}
    merged = deep_merge(base, override)
    merged["a"]["b"].append(2)
    merged["a"]["c"]["d"] = 99
    assert base == {"a": {"b": [1]}}
    assert override == {"a": {"c": {"d": 1}}}


def test_deep_merge_lets_a_scalar_replace_a_mapping() -> None:
    assert deep_merge({"a": {"b": 1}}, {"a": None}) == {"a": None}


def test_unwrap_resource_takes_the_inner_mapping_of_wandbs_spelling() -> None:
    # GIVEN the docs' PyTorchJob queue config, wrapped in `kubernetes:`
    text = """
kubernetes:
  kind: PyTorchJob
  spec:
    pytorchReplicaSpecs:
      Master:
        replicas: 1
        template:
          spec:
            containers:
              - name: pytorch
                image: '${image_uri}'
  metadata:
    name: '${run_id}-pytorch-job'
  apiVersion: kubeflow.org/v1
"""
    config = parse_config_text(text)
    inner = unwrap_resource(config, "kubernetes")
    assert inner["kind"] == "PyTorchJob"
    assert unwrap_resource(inner, "kubernetes") is inner
    assert unwrap_resource(config, "sagemaker") is config


# --------------------------------------------------------------------------- queue settings


def test_queue_with_declared_placeholders_and_known_macros_is_accepted() -> None:
    # GIVEN the K8s config whose placeholders are all declared and whose only macro is known
    settings = QueueSettings.model_validate(
        {"resource": "kubernetes", "config": K8S_CONFIG, "template_variables": K8S_VARIABLES}
    )
    # THEN the check passes (and raises nothing)
    check_queue_settings(settings)


def test_undeclared_placeholder_in_queue_config_is_refused() -> None:
    settings = QueueSettings(resource="kubernetes", config={"spec": {"parallelism": "{{ workers }}"}})
    with pytest.raises(InvalidInput) as caught:
        check_queue_settings(settings)
    assert caught.value.field == "config"
    assert "workers" in caught.value.detail


def test_unknown_macro_in_queue_config_is_refused() -> None:
    settings = QueueSettings(resource="kubernetes", config={"env": [{"value": "${AWS_SECRET_ACCESS_KEY}"}]})
    with pytest.raises(InvalidInput) as caught:
        check_queue_settings(settings)
    assert caught.value.field == "config"
    assert "unknown macro '${AWS_SECRET_ACCESS_KEY}'" in caught.value.detail


# --------------------------------------------------------------------------- resolve at enqueue


def test_resolve_renders_typed_values_and_fills_defaults() -> None:
    # GIVEN a run giving `gpus` and `team`; `mem_gb` has a default
    resolved = resolve_resource_args(make_queue(), make_spec(template_variables={"gpus": 4, "team": "nlp"}))
    # THEN the lone placeholder is an int, the embedded one a formatted string, the default used
    limits = container(resolved)["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == 4
    assert limits["memory"] == "16Gi"
    assert resolved["metadata"]["labels"]["team"] == "nlp"
    # AND macros are kept for submit time
    assert container(resolved)["image"] == "${image_uri}"


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"team": "robotics"}, "template_variables.team"),  # not in enum
        ({"team": "nlp", "gpus": 9}, "template_variables.gpus"),  # above max
        ({"team": "nlp", "gpus": -1}, "template_variables.gpus"),  # below min
        ({"team": "nlp", "gpus": 1.5}, "template_variables.gpus"),  # not an integer
        ({"team": "nlp", "colour": "red"}, "template_variables.colour"),  # unknown variable
        ({}, "template_variables.team"),  # required, no default
    ],
)
def test_template_values_are_checked_against_the_schema(values: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        resolve_resource_args(make_queue(), make_spec(template_variables=values))
    assert caught.value.field == field


def test_run_overrides_are_deep_merged_over_the_queue_config() -> None:
    override = {"kubernetes": {"metadata": {"labels": {"owner": "ana"}}, "spec": {"backoffLimit": 2}}}
    resolved = resolve_resource_args(make_queue(), make_spec(resource_args=override))
    assert resolved["metadata"]["labels"] == {"team": "vision", "owner": "ana"}
    assert resolved["spec"]["backoffLimit"] == 2
    assert container(resolved)["resources"]["limits"]["nvidia.com/gpu"] == 1


def test_wrapped_queue_config_is_unwrapped_before_merging() -> None:
    queue = make_queue(config={"kubernetes": {"kind": "PyTorchJob", "spec": {"a": 1}}}, template_variables={})
    spec = make_spec(template_variables={}, resource_args={"kubernetes": {"spec": {"b": 2}}})
    assert resolve_resource_args(queue, spec) == {"kind": "PyTorchJob", "spec": {"a": 1, "b": 2}}


def test_overrides_for_another_resource_are_refused_not_dropped() -> None:
    spec = make_spec(resource_args={"sagemaker": {"InstanceType": "ml.p3.2xlarge"}})
    with pytest.raises(InvalidInput) as caught:
        resolve_resource_args(make_queue(), spec)
    assert caught.value.field == "resource_args.sagemaker"
    assert "queue 'gpu' targets 'kubernetes'" in caught.value.detail


def test_overrides_on_a_queue_that_forbids_them_are_refused() -> None:
    spec = make_spec(resource_args={"kubernetes": {"spec": {"backoffLimit": 9}}})
    with pytest.raises(InvalidInput) as caught:
        resolve_resource_args(make_queue(allow_overrides=False), spec)
    assert caught.value.field == "resource_args"


def test_a_queue_that_forbids_overrides_still_resolves_runs_without_them() -> None:
    resolved = resolve_resource_args(make_queue(allow_overrides=False), make_spec())
    assert resolved["metadata"]["labels"]["team"] == "vision"


def test_override_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        resolve_resource_args(make_queue(), make_spec(resource_args={"kubernetes": ["x"]}))
    assert caught.value.field == "resource_args.kubernetes"


def test_unknown_macro_in_run_overrides_is_refused() -> None:
    spec = make_spec(resource_args={"kubernetes": {"metadata": {"name": "${HOSTNAME}"}}})
    with pytest.raises(InvalidInput) as caught:
        resolve_resource_args(make_queue(), spec)
    assert caught.value.field == "resource_args"
    assert "unknown macro '${HOSTNAME}'" in caught.value.detail


def test_unknown_macro_smuggled_in_a_template_value_is_refused() -> None:
    queue = make_queue(config={"name": "{{ label }}"}, template_variables={"label": {"type": "string"}})
    with pytest.raises(InvalidInput, match="HOME"):
        resolve_resource_args(queue, make_spec(template_variables={"label": "${HOME}"}))


# --------------------------------------------------------------------------- macros


def test_macro_values_have_exactly_the_macro_fields() -> None:
    assert tuple(MacroValues.model_fields) == MACROS


def test_check_macros_refuses_unknown_names_and_lists_the_allowed_ones() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_macros({"a": ["ok ${run_id}", {"b": "${HOME}"}]}, "resource_args")
    assert caught.value.field == "resource_args"
    assert "'${HOME}'" in caught.value.detail
    assert "${image_uri}" in caught.value.detail
    assert "a[1].b" in caught.value.detail


def test_check_macros_looks_at_keys_too() -> None:
    with pytest.raises(InvalidInput, match="PATH"):
        check_macros({"${PATH}": 1}, "config")


def test_check_macros_accepts_every_allowed_macro() -> None:
    check_macros({name: f"${{{name}}}" for name in MACROS}, "config")


def test_substitute_macros_replaces_everywhere_including_lists_and_keys() -> None:
    # GIVEN macros in a nested list, a key and a string with two macros
    obj = {
        "metadata": {"name": "${run_id}-job", "labels": {"${queue_name}": "${entity_name}/${project_name}"}},
        "containers": [{"image": "${image_uri}", "args": ["--name", "${run_name}", ["${author}"]]}],
        "replicas": 2,
    }
    values = MacroValues(
        image_uri="reg/img:abc",
        run_id="r1",
        run_name="first",
        project_name="proj",
        entity_name="team",
        queue_name="gpu",
        author="ana",
    )
    before = copy.deepcopy(obj)
    # WHEN substituted
    out = substitute_macros(obj, values)
    # THEN every macro is replaced, other values untouched, and the input unchanged
    assert out == {
        "metadata": {"name": "r1-job", "labels": {"gpu": "team/proj"}},
        "containers": [{"image": "reg/img:abc", "args": ["--name", "first", ["ana"]]}],
        "replicas": 2,
    }
    assert obj == before


def test_substitute_macros_never_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN environment variables named like macros and like secrets
    monkeypatch.setenv("run_id", "from-env")
    monkeypatch.setenv("image_uri", "evil/image")
    monkeypatch.setenv("HOME", "/root")
    # WHEN a known macro is substituted
    out = substitute_macros({"name": "${run_id}", "image": "${image_uri}"}, MacroValues(run_id="r-42"))
    # THEN the value comes from MacroValues only (an unset one is empty, not the env var)
    assert out == {"name": "r-42", "image": ""}
    # AND ${HOME} is refused, not filled from the environment
    with pytest.raises(InvalidInput, match=r"unknown macro '\$\{HOME\}'"):
        substitute_macros({"home": "${HOME}"}, MacroValues(run_id="r-42"))


@pytest.mark.parametrize("text", ["${HOME:-/tmp}", "${}", "${ run_id }"])
def test_anything_in_macro_braces_that_is_not_a_macro_name_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="unknown macro"):
        check_macros({"a": text}, "config")


def test_dollar_without_braces_is_plain_text() -> None:
    assert substitute_macros({"cmd": "echo $HOME $$"}, MacroValues()) == {"cmd": "echo $HOME $$"}


def test_macro_values_are_inserted_literally_not_expanded_again() -> None:
    # GIVEN a run name that itself looks like a macro
    out = substitute_macros({"name": "${run_name}"}, MacroValues(run_name="${HOME}"))
    # THEN it is inserted as text, neither expanded nor refused
    assert out == {"name": "${HOME}"}


def test_project_name_is_lower_cased_as_in_wandb() -> None:
    # W&B's agent lower-cases the target project before filling ${project_name}; other
    # macros keep the case they were given
    values = MacroValues(project_name="Vision-Team", run_name="Exp-1", entity_name="ML-Org")
    out = substitute_macros({"p": "${project_name}", "r": "${run_name}", "e": "${entity_name}"}, values)
    assert out == {"p": "vision-team", "r": "Exp-1", "e": "ML-Org"}


def test_a_dispatched_run_gets_its_project_name_lower_cased() -> None:
    from launchq.service.queues import QueueCreate
    from tests.unit.fakes import Clock, FakeTarget, services

    # GIVEN a queue whose config passes ${project_name} on, and a run of project "Vision-Team"
    svc = services(FakeTarget(), Clock())
    svc.queues.create(
        QueueCreate(name="q", resource="local-process", config={"env": {"P": "${project_name}"}})
    )
    svc.runs.enqueue("q", RunSpec(entry_point=["x"], project="Vision-Team"))
    # WHEN it is dispatched
    launched = svc.dispatcher.dispatch("q")[0]
    # THEN the macro is the lower-cased project, as W&B's agent would fill it
    assert launched.resolved["env"] == {"P": "vision-team"}
