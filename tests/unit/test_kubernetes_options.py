"""Which cluster a kubernetes queue names (``launchq: {context | in_cluster | eks | gke | aks}``),
checked at enqueue with errors that name the field; and the per-cluster token cache that
keeps managed clusters' short-lived tokens fresh."""

from __future__ import annotations

from typing import Any

import pytest

from launchq.adapters.targets.kubernetes_options import CLUSTER_FIELDS, KubeOptions
from launchq.adapters.targets.kubernetes_spec import check_object
from launchq.adapters.targets.kubernetes_tokens import Token, TokenCache
from launchq.domain.models import RunSpec
from launchq.errors import InvalidInput

SPEC = RunSpec(docker_image="registry.example/team/train:1", entry_point=["python", "train.py"])
SUBSCRIPTION = "0b1f6471-1bf0-4dda-aec3-cb9272f09590"
GKE = {"project": "ml-platform-42", "location": "europe-west4", "cluster": "training"}
AKS_ARM = {"subscription": SUBSCRIPTION, "resource_group": "ml-rg", "cluster": "training"}
AKS_GIVEN = {"server": "https://training-dns.hcp.westeurope.azmk8s.io:443", "ca_data": "LS0tLS1CRUdJTg=="}


def refused(launchq: dict[str, Any]) -> InvalidInput:
    """What enqueueing a run on a queue with this ``launchq`` block raises."""
    with pytest.raises(InvalidInput) as caught:
        check_object(SPEC, {"launchq": launchq})
    return caught.value


@pytest.mark.parametrize(
    ("launchq", "key"),
    [
        ({}, "kubeconfig"),
        ({"context": "prod"}, "context:prod"),
        ({"in_cluster": True}, "in-cluster"),
        ({"eks": {"name": "training", "region": "eu-west-1"}}, "eks:eu-west-1:training"),
        ({"gke": GKE}, "gke:ml-platform-42:europe-west4:training"),
        ({"aks": AKS_ARM}, f"aks:{SUBSCRIPTION}:ml-rg:training"),
        ({"aks": AKS_GIVEN}, f"aks:{AKS_GIVEN['server']}"),
    ],
)
def test_each_way_of_naming_a_cluster_is_accepted_and_keyed_apart(launchq: dict[str, Any], key: str) -> None:
    # GIVEN a queue naming its cluster one way  WHEN a run is checked at enqueue  THEN it passes
    options = check_object(SPEC, {"launchq": launchq}).options
    assert options.cluster_key() == key
    # AND the handle's copy of the cluster (what later status calls read) leads to the same cluster
    kept = KubeOptions.model_validate_json(options.model_dump_json(include=set(CLUSTER_FIELDS)))
    assert kept.cluster_key() == key
    assert (kept.managed() is not None) == (next(iter(launchq), "") in {"eks", "gke", "aks"})


@pytest.mark.parametrize(
    ("launchq", "named"),
    [
        ({"context": "prod", "gke": GKE}, "context and gke"),
        ({"eks": {"name": "a", "region": "us-east-1"}, "aks": AKS_ARM}, "aks and eks"),
        ({"in_cluster": True, "gke": GKE}, "gke and in_cluster"),
    ],
)
def test_naming_two_clusters_is_refused_naming_both(launchq: dict[str, Any], named: str) -> None:
    error = refused(launchq)
    assert error.field == "resource_args.kubernetes.launchq"
    assert f"name one cluster: {named} are both given" in str(error)


@pytest.mark.parametrize(
    ("launchq", "field", "words"),
    [
        (
            {"gke": {**GKE, "project": "Not A Project"}},
            "resource_args.kubernetes.launchq.gke.project",
            "pattern",
        ),
        (
            {"gke": {"project": "ml-platform-42", "cluster": "x"}},
            "resource_args.kubernetes.launchq.gke.location",
            "",
        ),
        ({"gke": {**GKE, "zone": "a"}}, "resource_args.kubernetes.launchq.gke.zone", "Extra inputs"),
        (
            {"aks": {**AKS_ARM, "subscription": "not-a-uuid"}},
            "resource_args.kubernetes.launchq.aks.subscription",
            "",
        ),
        ({"aks": {"cluster": "training"}}, "resource_args.kubernetes.launchq.aks", "resource_group"),
        (
            {"aks": {**AKS_ARM, "server": AKS_GIVEN["server"]}},
            "resource_args.kubernetes.launchq.aks",
            "not both",
        ),
        ({"aks": {"server": AKS_GIVEN["server"]}}, "resource_args.kubernetes.launchq.aks", "go together"),
        (
            {"aks": {**AKS_GIVEN, "server": "http://plain:80"}},
            "resource_args.kubernetes.launchq.aks.server",
            "",
        ),
        ({"eks": {"name": "training"}}, "resource_args.kubernetes.launchq.eks.region", ""),
    ],
)
def test_a_malformed_cluster_is_refused_at_enqueue_naming_the_field(
    launchq: dict[str, Any], field: str, words: str
) -> None:
    error = refused(launchq)
    assert error.field == field, str(error)
    assert words in str(error)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_token_is_reused_per_cluster_and_minted_again_five_minutes_before_it_expires() -> None:
    # GIVEN a cache and clusters whose tokens last 15 minutes (EKS's)
    clock, minted = Clock(), []
    cache = TokenCache(margin=300, clock=clock)

    def mint_for(cluster: str) -> Any:
        def mint() -> Token:
            minted.append(cluster)
            return Token(f"{cluster}-{len(minted)}", clock.now + 900)

        return mint

    # WHEN the same cluster asks again within ten minutes  THEN it gets the same token
    assert cache.get("eks:a", mint_for("a")) == "a-1"
    clock.now += 599
    assert cache.get("eks:a", mint_for("a")) == "a-1"
    # AND another cluster has a token of its own
    assert cache.get("eks:b", mint_for("b")) == "b-2"
    # AND at ten minutes (five before expiry) a fresh one is minted, and kept
    clock.now += 1
    assert cache.get("eks:a", mint_for("a")) == "a-3"
    assert cache.get("eks:a", mint_for("a")) == "a-3"
    assert minted == ["a", "b", "a"]


def test_a_token_with_no_known_end_is_minted_once() -> None:
    clock = Clock()
    cache = TokenCache(clock=clock)
    calls = []
    cache.get("gke:x", lambda: calls.append(1) or Token("static", float("inf")))
    clock.now += 10**9
    assert cache.get("gke:x", lambda: Token("other", 0.0)) == "static"
    assert calls == [1]
