"""``infra/azure/main.bicep`` matches the code it deploys.

No ``az`` or ``bicep`` binary can be installed here, so the template is parsed with pycep (the
Bicep parser checkov uses, in its own virtualenv that ``make setup`` installs) and checked
against launchq itself: the doorbell queue the trigger reads is the queue deployed (with
duplicate detection and dead-lettering), every LAUNCHQ_* app setting is an ``AzureSettings``
field, the Service Bus connection is the trigger's, the tables are the store's, the identity
holds the roles the code needs and nothing is public that should not be; then checkov runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from functions.azure import function_app
from launchq.adapters.stores.azure_tables_entities import TABLES
from launchq.azure.settings import AzureSettings

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra" / "azure"
BICEP_PYTHON = Path(sys.executable).parent.parent / "checkov" / "bin" / "python"

PARSE = """
import json, pathlib, sys
from pycep import BicepParser
print(json.dumps(BicepParser().parse(text=pathlib.Path(sys.argv[1]).read_text()), default=str))
"""

ROLES = {  # Azure's built-in role definition ids
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "Azure Service Bus Data Sender": "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39",
    "Azure Service Bus Data Receiver": "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0",
    "AcrPush": "8311e382-0749-4cb8-b61a-304f252e45ec",
    "Azure Kubernetes Service Cluster User Role": "4abbcc35-e782-43d8-92c5-2d3f1bd2253f",
}


@pytest.fixture(scope="module")
def bicep() -> dict[str, Any]:
    if not BICEP_PYTHON.exists():
        pytest.fail(f"pycep comes with checkov's virtualenv at {BICEP_PYTHON}: run `make setup`")
    done = subprocess.run(
        [str(BICEP_PYTHON), "-c", PARSE, str(INFRA / "main.bicep")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout))


def _resource(bicep: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(bicep["resources"][name]["config"])


def _default(bicep: dict[str, Any], name: str) -> Any:
    return bicep["parameters"][name]["default"]


def _settings(bicep: dict[str, Any]) -> dict[str, Any]:
    listed = bicep["variables"]["launchqSettings"]["value"] + bicep["variables"]["buildSettings"]["value"]
    return {item["name"]: item["value"] for item in listed}


def test_the_doorbell_queue_is_the_one_the_trigger_reads(bicep: dict[str, Any]) -> None:
    assert function_app.DOORBELL_QUEUE == "%LAUNCHQ_DOORBELL_QUEUE%"
    assert _settings(bicep)["LAUNCHQ_DOORBELL_QUEUE"] == {
        "operator": {"type": "property_accessor", "operands": {"operand_1": "doorbell", "operand_2": "name"}}
    }
    assert _default(bicep, "doorbellQueue") == AzureSettings.model_fields["doorbell_queue"].default
    queue = _resource(bicep, "doorbell")
    assert queue["name"] == "doorbellQueue"
    assert queue["parent"] == "bus"
    properties = queue["properties"]
    assert properties["requiresDuplicateDetection"] is True  # folds a burst of rings
    assert properties["duplicateDetectionHistoryTimeWindow"] == "PT1M"
    assert 1 <= properties["maxDeliveryCount"] <= 2000
    assert properties["deadLetteringOnMessageExpiration"]
    # a lock outlives the dispatcher function's timeout (host.json), so a slow dispatch is not redelivered
    host = json.loads((REPO / "functions" / "azure" / "host.json").read_text())
    assert properties["lockDuration"] == "PT5M"
    assert host["extensions"]["serviceBus"]["autoCompleteMessages"]
    namespace = _resource(bicep, "bus")
    assert namespace["sku"]["name"] in {"Standard", "Premium"}  # Basic has no duplicate detection
    assert namespace["properties"]["disableLocalAuth"] is True
    assert namespace["properties"]["minimumTlsVersion"] == "1.2"


def test_every_app_setting_is_a_setting_launchq_reads(bicep: dict[str, Any]) -> None:
    settings = _settings(bicep)
    given = {name for name in settings if name.startswith("LAUNCHQ_")}
    known = {f"LAUNCHQ_{name.upper()}" for name in AzureSettings.model_fields}
    for field in AzureSettings.model_fields.values():
        alias = field.validation_alias
        known |= {str(choice).upper() for choice in getattr(alias, "choices", [])}
    assert {name.upper() for name in given} - known == set()
    # the trigger's identity-based connection is the doorbell's namespace: one setting for both
    connection = f"{function_app.SERVICEBUS_CONNECTION}__fullyQualifiedNamespace"
    assert connection in given
    assert "LAUNCHQ_TABLE_ENDPOINT" in given
    assert "LAUNCHQ_AUTH" in given
    assert settings["LAUNCHQ_AUTH"] == "keys"
    # no secret in an app setting: the identity reaches Tables and Service Bus
    assert not {"LAUNCHQ_SERVICEBUS", "LAUNCHQ_TABLES_CONNECTION"} & given
    assert "AzureWebJobsStorage__accountName" in settings


def test_the_tables_are_the_stores(bicep: dict[str, Any]) -> None:
    assert bicep["variables"]["tableKinds"]["value"] == list(TABLES)
    assert _default(bicep, "tablePrefix") == AzureSettings.model_fields["table_prefix"].default


def test_the_identity_holds_the_roles_the_code_needs(bicep: dict[str, Any]) -> None:
    roles = bicep["variables"]["roles"]["value"]
    assert set(ROLES.values()) <= set(roles.values())
    # what the assignments grant: their loops' lists (storageRoles is a variable of its own)
    text = json.dumps(bicep["resources"]) + json.dumps(bicep["variables"]["storageRoles"])
    for assignment in ["storageAccess", "doorbellAccess", "registryAccess", "clusterAccess"]:
        config = bicep["resources"][assignment]["config"]
        body = config.get("config", config)  # a loop's body sits one level down
        assert "principalId" in json.dumps(body)
    assert "storageTableDataContributor" in text
    assert "serviceBusDataSender" in text
    assert "serviceBusDataReceiver" in text
    assert "acrPush" in text
    assert "aksClusterUser" in text


def test_https_only_tls_12_and_nothing_public_that_should_not_be(bicep: dict[str, Any]) -> None:
    app = _resource(bicep, "app")["properties"]
    assert app["httpsOnly"] is True
    assert app["siteConfig"]["minTlsVersion"] == "1.2"
    assert app["siteConfig"]["ftpsState"] == "Disabled"
    assert app["functionAppConfig"]["runtime"] == {"name": "python", "version": "3.11"}
    storage = _resource(bicep, "storage")["properties"]
    assert (storage["minimumTlsVersion"], storage["allowBlobPublicAccess"]) == ("TLS1_2", False)
    assert storage["supportsHttpsTrafficOnly"] is True
    registry = _resource(bicep, "registry")["properties"]
    assert (registry["adminUserEnabled"], registry["anonymousPullEnabled"]) == (False, False)
    for container in ["deployments", "buildContexts"]:
        assert _resource(bicep, container)["properties"]["publicAccess"] == "None"


def test_checkov_passes_every_check_on_the_bicep() -> None:
    # each skip is a `//checkov:skip=ID:reason` on its resource; none in the config file
    checkov = BICEP_PYTHON.with_name("checkov")
    done = subprocess.run(
        [str(checkov), "--config-file", str(INFRA / "checkov.yaml"), "-o", "json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["check_type"] == "bicep"
    assert report["summary"]["parsing_errors"] == 0
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert failed == []
    assert report["summary"]["passed"] >= 20
    skipped = {c["check_id"] for c in report["results"]["skipped_checks"]}
    assert skipped == {
        "CKV_AZURE_17",
        "CKV_AZURE_35",
        "CKV_AZURE_43",
        "CKV_AZURE_59",
        "CKV_AZURE_139",
        "CKV_AZURE_166",
        "CKV_AZURE_212",
        "CKV_AZURE_213",
        "CKV_AZURE_222",
        "CKV_AZURE_225",
    }


def test_the_staged_app_has_its_entry_point_host_json_and_no_other_clouds_sdk(tmp_path: Path) -> None:
    sys.path.insert(0, str(INFRA))
    try:
        from package import stage  # infra/azure/package.py
    finally:
        sys.path.remove(str(INFRA))
    staged = stage(tmp_path / "app")
    assert {p.name for p in staged.iterdir()} >= {
        "function_app.py",
        "host.json",
        "requirements.txt",
        "launchq",
    }
    assert (staged / "launchq" / "azure" / "wiring.py").is_file()
    wanted = [
        line.split(">")[0].split("<")[0].strip()
        for line in (staged / "requirements.txt").read_text().splitlines()
    ]
    names = {name for name in wanted if name and not name.startswith("#")}
    assert {"azure-functions", "azure-servicebus", "azure-data-tables", "azure-identity"} <= names
    assert not {n for n in names if n.startswith(("boto", "google", "functions-framework"))}
