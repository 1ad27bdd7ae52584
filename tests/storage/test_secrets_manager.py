"""Settings given as AWS Secrets Manager ARNs, resolved against moto in server mode on 127.0.0.1."""

from __future__ import annotations

import json

import boto3
import pytest
from pydantic import ValidationError

from orbitask.config import Settings
from tests.s3server import MotoServer


def test_settings_given_as_arns_are_read_from_secrets_manager(
    moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = boto3.client("secretsmanager", endpoint_url=moto_server.url, region_name="eu-west-1")
    key_arn = client.create_secret(Name="orbitask-key", SecretString="k" * 48)["ARN"]
    db_arn = client.create_secret(Name="orbitask-db", SecretString=json.dumps(
        {"url": "postgresql+psycopg://app:s3cr3t-pw@db:5432/orbitask", "user": "app"}))["ARN"]
    old_arn = client.create_secret(Name="orbitask-old-keys", SecretString="o" * 40 + "," + "p" * 40)["ARN"]
    monkeypatch.setenv("ORBITASK_SECRETS_ENDPOINT_URL", moto_server.url)
    monkeypatch.setenv("ORBITASK_SECRET_KEY", key_arn)
    monkeypatch.setenv("ORBITASK_DATABASE_URL", db_arn + "#url")
    monkeypatch.setenv("ORBITASK_PREVIOUS_SECRET_KEYS", old_arn)

    settings = Settings()
    assert settings.signing_key == "k" * 48
    assert settings.database_url == "postgresql+psycopg://app:s3cr3t-pw@db:5432/orbitask"
    assert settings.previous_signing_keys == ["o" * 40, "p" * 40]
    assert "s3cr3t-pw" not in str(settings.shown()) and "k" * 48 not in str(settings.shown())

    # a rotated secret is picked up by the next start
    client.put_secret_value(SecretId=key_arn, SecretString="r" * 48)
    assert Settings().signing_key == "r" * 48


def test_a_missing_secret_stops_the_start_naming_the_arn_not_a_value(
    moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orbitask-missing-AbCdEf"
    monkeypatch.setenv("ORBITASK_SECRETS_ENDPOINT_URL", moto_server.url)
    monkeypatch.setenv("ORBITASK_SECRET_KEY", arn)
    with pytest.raises(ValidationError) as failed:
        Settings()
    assert arn in str(failed.value) and "ResourceNotFound" in str(failed.value)
