"""Settings: one class, read from ORBITASK_* environment variables, validated at start."""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ALL_SERVICES = ("auth", "boards", "tasks", "realtime")
SECRET_FILE = "secret.key"
MIN_SECRET_LENGTH = 32


class Settings(BaseSettings):
    """Every setting Orbitask reads; documented in docs/configuration.md."""

    model_config = SettingsConfigDict(env_prefix="ORBITASK_", extra="ignore")

    env: Literal["development", "test", "production"] = Field(
        "development", description="production refuses default secrets"
    )
    data_dir: Path = Field(Path(".orbitask"), description="SQLite database, generated secret, local files")
    database_url: str | None = Field(None, description="writer DSN; default: SQLite in data_dir")
    database_reader_url: str | None = Field(None, description="reader (replica) DSN; default: the writer")
    secret_key: SecretStr | None = Field(None, description="signs access tokens; generated locally if unset")
    region: str = Field("local", description="name of this region, recorded on every event")
    redis_url: str | None = Field(
        None, description="Redis for the bus, relay lease, cache, rate limits, revocations, presence; unset: in-process"
    )
    services: Annotated[list[str], NoDecode] = Field(  # NoDecode: the env value is "auth,boards", not JSON
        list(ALL_SERVICES), description="services whose routes this process mounts"
    )
    host: str = Field("127.0.0.1", description="address `orbitask serve` binds")
    port: int = Field(8000, description="port `orbitask serve` binds")
    workers: int = Field(1, ge=1, le=64, description="uvicorn worker processes")
    access_token_ttl_seconds: int = Field(900, ge=30, description="lifetime of JWT access tokens")
    refresh_token_ttl_seconds: int = Field(30 * 86400, ge=60, description="lifetime of refresh tokens")
    invitation_ttl_seconds: int = Field(7 * 86400, ge=60, description="lifetime of invitation links")
    read_wait_timeout_seconds: float = Field(2.0, ge=0, le=30, description="bound on waiting for a replica")
    idempotency_ttl_seconds: int = Field(86400, ge=60, description="how long Idempotency-Key results are kept")
    snapshot_cache_entries: int = Field(1024, ge=0, description="board snapshots kept in the local cache")
    snapshot_cache_mb: int = Field(64, ge=1, description="memory the local snapshot cache may use, in MiB")
    snapshot_cache_ttl_seconds: int = Field(3600, ge=60, description="how long a snapshot stays in Redis")
    rate_limit_login_per_minute: int = Field(10, ge=0, description="sign-in attempts per e-mail address (0: off)")
    rate_limit_login_ip_per_minute: int = Field(30, ge=0, description="sign-in attempts per client address (0: off)")
    rate_limit_signup_per_minute: int = Field(20, ge=0, description="sign-ups per client address (0: off)")
    rate_limit_api_per_minute: int = Field(1200, ge=0, description="requests per user or API token (0: off)")
    rate_limit_api_ip_per_minute: int = Field(3000, ge=0, description="requests per client address (0: off)")
    presence_ttl_seconds: int = Field(60, ge=30, le=3600, description="how long a socket stays present unrefreshed")
    cookie_secure: bool | None = Field(None, description="Secure flag on cookies; default: on in production")
    argon2_time_cost: int = Field(3, ge=1, description="argon2id iterations")
    argon2_memory_cost: int = Field(65536, ge=8, description="argon2id memory in KiB")
    log_level: str = Field("INFO", description="log level")
    log_json: bool = Field(True, description="JSON logs (false: console format)")
    max_body_bytes: int = Field(1_048_576, ge=1024, description="largest accepted JSON request body")
    web_dir: Path | None = Field(
        None, description="built web app served at /; default: web/dist of the source checkout"
    )
    request_timeout_seconds: float = Field(
        30, ge=1, description="bound on one HTTP request; past it the request is cancelled and answers 503"
    )

    @field_validator("services", mode="before")
    @classmethod
    def _split_services(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("services")
    @classmethod
    def _known_services(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(ALL_SERVICES))
        if unknown:
            raise ValueError(f"unknown services {unknown}; choose from {list(ALL_SERVICES)}")
        if not value:
            raise ValueError("at least one service must be mounted")
        return value

    @model_validator(mode="after")
    def _production_needs_real_secret(self) -> Settings:
        if self.env == "production":
            key = self.secret_key.get_secret_value() if self.secret_key else ""
            if len(key) < MIN_SECRET_LENGTH or key in {"changeme", "secret", "dev"}:
                raise ValueError(
                    "ORBITASK_SECRET_KEY must be set to a random value of at least "
                    f"{MIN_SECRET_LENGTH} characters when ORBITASK_ENV=production"
                )
            if self.database_url is None:
                raise ValueError("ORBITASK_DATABASE_URL must be set when ORBITASK_ENV=production")
        return self

    @property
    def writer_url(self) -> str:
        """The writer DSN (SQLite file in the data dir by default)."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'orbitask.db').resolve()}"

    @property
    def reader_url(self) -> str:
        """The reader DSN (the writer when no replica is configured)."""
        return self.database_reader_url or self.writer_url

    @property
    def secure_cookies(self) -> bool:
        """Whether cookies carry the Secure flag."""
        return self.cookie_secure if self.cookie_secure is not None else self.env == "production"

    @cached_property
    def signing_key(self) -> str:
        """The token signing secret: configured, or generated once into the data dir."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.data_dir / SECRET_FILE
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(48))
        return path.read_text().strip()

    def shown(self) -> dict[str, object]:
        """Settings for display, secrets masked."""
        out: dict[str, object] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = "********" if value.get_secret_value() else ""
            elif name.endswith("url") and isinstance(value, str):
                value = _mask_dsn(value)
            out[name] = value
        return out


def _mask_dsn(dsn: str) -> str:
    """Hide the password in a DSN."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(dsn).render_as_string(hide_password=True)
    except Exception:  # not a DSN: show nothing rather than a secret
        return "********"
