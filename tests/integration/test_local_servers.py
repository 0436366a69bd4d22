"""The real local servers the AWS tests rely on start, answer the SDK, and reset."""

from __future__ import annotations

import boto3


def test_dynamodb_local_answers_boto3(dynamodb_url: str, aws_env: dict[str, str]) -> None:
    client = boto3.client("dynamodb", endpoint_url=dynamodb_url)
    client.create_table(
        TableName="probe",
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    assert "probe" in client.list_tables()["TableNames"]
    client.delete_table(TableName="probe")


def test_moto_server_is_reset_between_tests(moto_url: str, aws_env: dict[str, str]) -> None:
    sqs = boto3.client("sqs")  # AWS_ENDPOINT_URL points it at moto
    assert sqs.list_queues().get("QueueUrls", []) == []
    sqs.create_queue(QueueName="probe")
    assert len(sqs.list_queues()["QueueUrls"]) == 1
