"""A run resubmitted after a preemption gets an object of its own: name and labels per attempt."""

from __future__ import annotations

import pytest

from launchq.adapters.targets.kubernetes_spec import ATTEMPT_LABEL, RUN_ID_LABEL, attempt_name, build_object
from launchq.domain.models import RunSpec
from tests.unit.k8s_checks import launchq_problems
from tests.unit.test_kubernetes_spec import IMAGE, RUN_ID

SPEC = RunSpec(docker_image=IMAGE, entry_point=["python", "train.py"])


def test_attempt_zero_keeps_the_name_later_attempts_end_with_their_number() -> None:
    assert attempt_name(f"launchq-{RUN_ID}", 0) == f"launchq-{RUN_ID}"
    assert attempt_name(f"launchq-{RUN_ID}", 2) == f"launchq-{RUN_ID}-a2"


@pytest.mark.parametrize("attempt", [1, 9, 123])
def test_a_63_character_name_is_shortened_to_stay_a_valid_label(attempt: int) -> None:
    base = "x" * 59 + "-abc"  # 63 characters; cut for "-a1" it would end in "-"
    name = attempt_name(base, attempt)
    assert len(name) <= 63
    assert name.endswith(f"-a{attempt}")
    assert "--" not in name
    assert launchq_problems({"kind": "Secret", "metadata": {"name": name}}) == []


def test_the_object_and_its_pods_carry_the_attempt() -> None:
    config = {"metadata": {"name": f"{RUN_ID}-pytorch-job"}}
    obj = build_object(SPEC, config, run_id=RUN_ID, queue="k8s", entity="team", attempt=1)
    assert obj.name == f"{RUN_ID}-pytorch-job-a1"
    assert obj.body["metadata"]["labels"][ATTEMPT_LABEL] == "1"
    pod_labels = obj.body["spec"]["template"]["metadata"]["labels"]
    assert (pod_labels[RUN_ID_LABEL], pod_labels[ATTEMPT_LABEL]) == (RUN_ID, "1")
