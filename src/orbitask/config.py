"""Settings: one class, read from ORBITASK_* environment variables, validated at start."""

from __future__ import annotations

import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ALL_SERVICES = ("auth", "boards", "tasks", "realtime", "notifications")
SECRETS_MANAGER_ARN = "arn:aws:secretsmanager:"
SECRET_FILE = "secret.key"
MIN_SECRET_LENGTH = 32


class DataDirError(Exception):
    """The data directory cannot be created or used; the message names the path and the setting."""


class RegionConfig(BaseModel):
    """One region as the others see it (an entry of ORBITASK_REGIONS)."""

    name: str = Field(min_length=1, max_length=64)
    public_url: str = Field("", description="where clients in that region reach it")
    internal_url: str = Field(description="where other regions' nodes forward writes to it")
    reader_url: str | None = Field(None, description="its replica's DSN (used by the failover controller)")
    redis_url: str | None = Field(None, description="its Redis")
    storage: str | None = Field(None, description="its object storage (bucket or directory)")


class StorageLocation(BaseModel):
    """Where one region keeps attachment files: a local directory or an S3 bucket."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["local", "s3"] = "local"
    dir: Path | None = Field(None, description="local backend: the directory")
    bucket: str | None = Field(None, description="s3 backend: the bucket")
    region: str | None = Field(None, description="s3 backend: the bucket's AWS region")
    endpoint_url: str | None = Field(None, description="s3 backend: an S3-compatible endpoint")

    @model_validator(mode="after")
    def _complete(self) -> StorageLocation:
        if self.backend == "local" and self.dir is None:
            raise ValueError("a local storage location needs `dir`")
        if self.backend == "s3" and not self.bucket:
            raise ValueError("an s3 storage location needs `bucket`")
        return self


class Settings(BaseSettings):
    """Every setting Orbitask reads; documented in docs/configuration.md."""

    model_config = SettingsConfigDict(env_prefix="ORBITASK_", extra="ignore", env_ignore_empty=True)  # VAR= is unset

    env: Literal["development", "test", "production"] = Field(
        "development", description="production refuses default secrets"
    )
    data_dir: Path = Field(Path(".orbitask"), description="SQLite database, generated secret, local files")
    database_url: str | None = Field(None, description="writer DSN; default: SQLite in data_dir")
    database_reader_url: str | None = Field(None, description="reader (replica) DSN; default: the writer")
    database_password: SecretStr | None = Field(
        None, description="password for database URLs that carry none (e.g. injected from a secrets manager)"
    )
    database_connect_timeout_seconds: float = Field(
        5, gt=0, le=120, description="bound on opening one database connection (TCP, greeting and login)"
    )
    secret_key: SecretStr | None = Field(None, description="signs access tokens; generated locally if unset")
    previous_secret_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="retired signing keys (comma-separated): tokens they signed stay valid until they expire",
    )
    region: str = Field("local", description="name of this region, recorded on every event")
    regions: list[RegionConfig] = Field(
        default_factory=list, description="every region (JSON list); empty: a single region that writes locally"
    )
    writer_region: str | None = Field(None, description="writer region until the topology row names one")
    forward_secret: SecretStr | None = Field(
        None, description="HMAC key for the region-to-region hop; default: derived from the secret key"
    )
    secrets_endpoint_url: str | None = Field(
        None, description="Secrets Manager endpoint for ARN settings (default: AWS's for the ARN's region)"
    )
    forward_timeout_seconds: float = Field(30, ge=1, le=300, description="bound on one forwarded write")
    redis_url: str | None = Field(
        None, description="Redis for the bus, relay lease, cache, rate limits, revocations, presence; unset: in-process"
    )
    services: Annotated[list[str], NoDecode] = Field(  # NoDecode: the env value is "auth,boards", not JSON
        list(ALL_SERVICES), description="services whose routes this process mounts"
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="origins (comma-separated) allowed to call the API from browsers"
    )
    host: str = Field("127.0.0.1", description="address `orbitask serve` binds")
    port: int = Field(8000, description="port `orbitask serve` binds")
    workers: int = Field(1, ge=1, le=64, description="uvicorn worker processes")
    forwarded_allow_ips: str | None = Field(
        None, description="proxies (addresses or CIDRs, comma-separated) whose X-Forwarded-For/-Proto are believed"
    )
    http_keep_alive_seconds: int = Field(5, ge=1, le=300, description="idle keep-alive connections close after this")
    http_max_header_bytes: int = Field(
        16 * 1024, ge=4096, le=1024 * 1024, description="largest request line plus headers accepted (431 past it)"
    )
    http_max_concurrency: int = Field(
        0, ge=0, description="connections and tasks per worker before new requests answer 503 (0: unlimited)"
    )
    http_graceful_shutdown_seconds: int = Field(
        30, ge=1, le=600, description="on shutdown, how long open requests may finish"
    )
    access_token_ttl_seconds: int = Field(900, ge=30, description="lifetime of JWT access tokens")
    refresh_token_ttl_seconds: int = Field(30 * 86400, ge=60, description="lifetime of refresh tokens")
    invitation_ttl_seconds: int = Field(7 * 86400, ge=60, description="lifetime of invitation links")
    read_wait_timeout_seconds: float = Field(2.0, ge=0, le=30, description="bound on waiting for a replica")
    idempotency_ttl_seconds: int = Field(86400, ge=60, description="how long Idempotency-Key results are kept")
    snapshot_cache_entries: int = Field(1024, ge=0, description="board snapshots kept in the local cache (and boards' patch bases)")
    snapshot_cache_mb: int = Field(64, ge=1, description="memory the local snapshot cache may use, in MiB (as much again for patch bases)")
    gc_young_threshold: int = Field(
        20_000, ge=0, description="`orbitask serve` workers: allocations between young-generation garbage "
        "collections (Python's default is 700; 0 keeps it); see docs/benchmarks-history.md, \"Fifth pass\"")
    snapshot_cache_ttl_seconds: int = Field(3600, ge=60, description="how long a snapshot stays in Redis")
    rate_limit_login_per_minute: int = Field(10, ge=0, description="sign-in attempts per e-mail address (0: off)")
    rate_limit_login_ip_per_minute: int = Field(30, ge=0, description="sign-in attempts per client address (0: off)")
    rate_limit_signup_per_minute: int = Field(20, ge=0, description="sign-ups per client address (0: off)")
    rate_limit_api_per_minute: int = Field(1200, ge=0, description="requests per user or API token (0: off)")
    rate_limit_api_ip_per_minute: int = Field(3000, ge=0, description="requests per client address (0: off)")
    login_backoff_after: int = Field(
        5, ge=0, description="failed sign-ins in a row before an account must wait between attempts (0: off)"
    )
    login_backoff_seconds: float = Field(2, gt=0, description="first wait; doubles with each further failure")
    login_backoff_max_seconds: float = Field(900, gt=0, description="longest wait between sign-in attempts")
    presence_ttl_seconds: int = Field(60, ge=30, le=3600, description="how long a socket stays present unrefreshed")
    ws_compression: bool = Field(False, description="permessage-deflate on WebSockets (costs CPU per frame)")
    cookie_secure: bool | None = Field(None, description="Secure flag on cookies; default: on in production")
    argon2_time_cost: int = Field(3, ge=1, description="argon2id iterations")
    argon2_memory_cost: int = Field(65536, ge=8, description="argon2id memory in KiB")
    log_level: str = Field("INFO", description="log level")
    log_json: bool | None = Field(
        None, description="JSON logs; unset: JSON unless standard error is a terminal (then one readable line each)"
    )
    max_body_bytes: int = Field(1_048_576, ge=1024, description="largest accepted JSON request body")
    web_dir: Path | None = Field(
        None, description="built web app served at /; default: web/dist of the source checkout"
    )
    request_timeout_seconds: float = Field(
        30, ge=1, description="bound on one HTTP request; past it the request is cancelled and answers 503"
    )
    import_max_bytes: int = Field(512 * 1024 * 1024, ge=1024, description="largest import file accepted by the API")
    import_timeout_seconds: float = Field(
        900, ge=1, le=86400, description="bound on one import request (upload, parse and write)"
    )
    storage_backend: Literal["local", "s3"] = Field("local", description="where attachment files are kept")
    storage_dir: Path | None = Field(None, description="local backend directory; default: <data_dir>/files")
    s3_bucket: str | None = Field(None, description="s3 backend: the bucket of this region")
    s3_region: str | None = Field(None, description="s3 backend: the bucket's AWS region")
    s3_endpoint_url: str | None = Field(None, description="s3 backend: an S3-compatible endpoint (MinIO, moto...)")
    storage_presigned_downloads: bool = Field(
        False, description="s3 backend: downloads redirect to a presigned GET URL instead of streaming"
    )
    cloudfront_url: str | None = Field(None, description="s3 backend: CloudFront distribution serving the bucket")
    cloudfront_key_id: str | None = Field(None, description="the CloudFront public key id signing URLs")
    cloudfront_private_key: SecretStr | None = Field(
        None, description="PEM of that key pair's RSA private key (best given as ORBITASK_CLOUDFRONT_PRIVATE_KEY_FILE)"
    )
    storage_url_ttl_seconds: int = Field(
        300, ge=10, le=7 * 86400, description="lifetime of presigned download URLs and upload tickets"
    )
    storage_regions: dict[str, StorageLocation] = Field(
        default_factory=dict, description="other regions' storage (JSON), for replication and download fallback"
    )
    attachment_max_bytes: int = Field(25 * 1024 * 1024, ge=1, description="largest attachment file")
    attachment_workspace_quota_mb: int = Field(
        10240, ge=0, description="attachment bytes one workspace may keep, in MiB (0: unlimited)"
    )
    attachment_upload_timeout_seconds: float = Field(
        900, ge=1, description="bound on one attachment upload or download request"
    )
    attachment_gc_grace_seconds: int = Field(
        86400, ge=0, description="age before deleted or orphaned attachment files are collected"
    )
    trash_retention_days: int = Field(
        30, ge=1, le=3650, description="days a deleted card or list stays restorable in its board's trash before "
        "the trash-purge job erases it with its files"
    )
    public_url: str = Field(
        "http://127.0.0.1:8000", description="base URL of the web app, for every link the server hands out "
        "(default: this region's public_url in ORBITASK_REGIONS; in development, where `orbitask serve` listens)"
    )
    _public_url_given: bool = PrivateAttr(False)  # set in the environment or by the caller, not derived
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="host names (comma-separated or a JSON list; `*.example.com` matches "
        "subdomains) answered besides public_url's and the regions'; production refuses any other Host with 400"
    )
    signup_verification: Literal["required", "optional", "off"] | bool | None = Field(
        None, description="e-mail verification at sign-up: required (the account is made once the e-mailed link is "
        "opened; true), optional (signed in at once, the link marks the address verified) or off (false) "
        "(default: on when smtp_host is set)"
    )
    signup_policy: Literal["open", "invite-only", "domains"] = Field(
        "open", description="who may sign up: anyone, only with a workspace invitation, or addresses in "
        "signup_domains (the instance's first account is always allowed, and becomes its administrator)"
    )
    signup_domains: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="signup_policy domains: the e-mail domains that may sign up (comma-separated)"
    )
    worker_in_serve: Literal["auto", "on", "off"] = Field(
        "auto", description="run the background jobs inside `orbitask serve` (auto: when the database is SQLite)"
    )
    worker_poll_interval_seconds: float = Field(0.2, gt=0, le=60, description="how often idle consumers poll")
    worker_lease_seconds: float = Field(15, ge=1, le=600, description="job lease lifetime; a dead holder's jobs move")
    smtp_host: str | None = Field(None, description="SMTP server for e-mail; unset: no e-mail is sent")
    smtp_port: int = Field(25, ge=1, le=65535, description="SMTP port")
    smtp_username: str | None = Field(None, description="SMTP user name")
    smtp_password: SecretStr | None = Field(None, description="SMTP password")
    smtp_security: Literal["none", "starttls", "tls"] = Field("none", description="SMTP transport security")
    smtp_timeout_seconds: float = Field(10, gt=0, le=300, description="bound on one SMTP conversation")
    email_from: str = Field("Orbitask <noreply@localhost>", description="From: of e-mails")
    email_max_attempts: int = Field(8, ge=1, le=50, description="sending attempts before an e-mail is given up")
    webhook_timeout_seconds: float = Field(10, gt=0, le=120, description="bound on one webhook request")
    webhook_max_attempts: int = Field(8, ge=1, le=50, description="delivery attempts before the dead-letter state")
    webhook_backoff_seconds: float = Field(10, gt=0, description="first retry delay; doubles per attempt, jittered")
    webhook_backoff_max_seconds: float = Field(3600, gt=0, description="longest delay between two attempts")
    webhook_allowed_networks: Annotated[list[str], NoDecode] = Field(
        [], description="CIDRs webhooks may target although private/loopback (comma-separated)"
    )
    reminder_interval_seconds: float = Field(60, gt=0, le=3600, description="how often due dates are checked")

    @field_validator("services", mode="before")
    @classmethod
    def _split_services(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip().rstrip("/") for part in value.split(",") if part.strip()]
        if isinstance(value, list) and "*" in value:
            raise ValueError("ORBITASK_CORS_ORIGINS cannot be '*': the API uses cookies; list the origins")
        return value

    @field_validator("signup_domains", mode="before")
    @classmethod
    def _split_domains(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list):  # exact domains, compared without case: "@Example.com" is "example.com"
            value = [p.strip().lstrip("@").lower() for p in value if isinstance(p, str) and p.strip()]
        return value

    @field_validator("webhook_allowed_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            import json

            try:  # a JSON list, or names separated by commas (an IPv6 address is bracketed: `[::1]`)
                parsed = json.loads(value)
            except ValueError:
                parsed = None
            value = parsed if isinstance(parsed, list) else value.split(",")
        if isinstance(value, list):
            value = [part.strip().lower() for part in value if isinstance(part, str) and part.strip()]
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, value: list[str]) -> list[str]:
        import ipaddress

        names = []
        for host in value:
            literal = host[1:-1] if host.startswith("[") and host.endswith("]") else host
            if ":" in literal:  # an IPv6 address, which a Host header brackets; anything else names a port
                try:
                    names.append(f"[{ipaddress.IPv6Address(literal)}]")
                    continue
                except ValueError:
                    raise ValueError(f"{host!r}: give a host name without scheme, port or path "
                                     "(e.g. app.example.com)") from None
            if "/" in host or "[" in host or "]" in host:
                raise ValueError(f"{host!r}: give a host name without scheme, port or path (e.g. app.example.com)")
            if "*" in host[1:] or (host.startswith("*") and host != "*" and not host.startswith("*.")):
                raise ValueError(f"{host!r}: a wildcard is only `*.example.com` (every subdomain) or `*` (any host)")
            names.append(host)
        return names

    @field_validator("previous_secret_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"{cidr!r} is not an IP network (e.g. 10.0.0.0/8 or 127.0.0.1)") from None
        return value

    @field_validator("public_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("public_url must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("services")
    @classmethod
    def _known_services(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(ALL_SERVICES))
        if unknown:
            raise ValueError(f"unknown services {unknown}; choose from {list(ALL_SERVICES)}")
        if not value:
            raise ValueError("at least one service must be mounted")
        return value

    @model_validator(mode="before")
    @classmethod
    def _secret_sources(cls, data: object) -> object:
        """Any setting may come from a file (`ORBITASK_<NAME>_FILE`) or an AWS Secrets Manager ARN."""
        if not isinstance(data, dict):
            return data
        for name in cls.model_fields:
            path = os.environ.get(f"ORBITASK_{name.upper()}_FILE")
            if path and name not in data:
                data[name] = _read_secret_file(name, path)
            value = data.get(name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if isinstance(value, str) and value.startswith(SECRETS_MANAGER_ARN):
                data[name] = resolve_secret_arn(value)
        return data

    @model_validator(mode="after")
    def _storage_complete(self) -> Settings:
        if self.storage_backend == "s3" and not self.s3_bucket:
            raise ValueError("ORBITASK_S3_BUCKET must be set when ORBITASK_STORAGE_BACKEND=s3")
        cloudfront = (self.cloudfront_url, self.cloudfront_key_id, self.cloudfront_private_key)
        if any(cloudfront) and not all(cloudfront):
            raise ValueError("CloudFront downloads need ORBITASK_CLOUDFRONT_URL, ORBITASK_CLOUDFRONT_KEY_ID and "
                             "ORBITASK_CLOUDFRONT_PRIVATE_KEY together")
        if any(cloudfront) and self.storage_backend != "s3":
            raise ValueError("CloudFront downloads need ORBITASK_STORAGE_BACKEND=s3")
        return self

    @property
    def local_storage(self) -> StorageLocation:
        """This region's attachment storage."""
        if self.storage_backend == "s3":
            return StorageLocation(
                backend="s3", bucket=self.s3_bucket, region=self.s3_region, endpoint_url=self.s3_endpoint_url
            )
        return StorageLocation(backend="local", dir=(self.storage_dir or self.data_dir / "files").resolve())

    @model_validator(mode="after")
    def _public_url_default(self) -> Settings:
        """Links name where people reach this server, never the request's Host header (which a client forges)."""
        self._public_url_given = "public_url" in self.model_fields_set  # deriving it below marks it set
        if self._public_url_given:
            return self
        own = next((r.public_url for r in self.regions if r.name == self.region and r.public_url), "")
        if own.startswith(("http://", "https://")):
            self.public_url = own.rstrip("/")
        elif self.env == "development":  # `orbitask serve --port 9000` hands out links to port 9000
            self.public_url = serve_url(self.host, self.port)
        return self

    @model_validator(mode="after")
    def _signup_verification_needs_email(self) -> Settings:
        if self.signup_verification not in (None, False, "off") and not self.smtp_host:
            given = str(self.signup_verification).lower()
            raise ValueError(f"ORBITASK_SIGNUP_VERIFICATION={given} needs ORBITASK_SMTP_HOST: the sign-up link is e-mailed")
        return self

    @model_validator(mode="after")
    def _domains_policy_needs_domains(self) -> Settings:
        if self.signup_policy == "domains" and not self.signup_domains:
            raise ValueError("ORBITASK_SIGNUP_POLICY=domains needs ORBITASK_SIGNUP_DOMAINS: nobody could sign up")
        return self

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
            return self._with_password(self.database_url)
        return f"sqlite+aiosqlite:///{(self.data_dir / 'orbitask.db').resolve()}"

    @property
    def reader_url(self) -> str:
        """The reader DSN (the writer when no replica is configured)."""
        return self._with_password(self.database_reader_url) if self.database_reader_url else self.writer_url

    def _with_password(self, dsn: str) -> str:
        """DSN with ORBITASK_DATABASE_PASSWORD filled in when the DSN has no password of its own."""
        if self.database_password is None:
            return dsn
        from sqlalchemy.engine import make_url

        url = make_url(dsn)
        if url.password:
            return dsn
        return url.set(password=self.database_password.get_secret_value()).render_as_string(hide_password=False)

    @property
    def jobs_in_serve(self) -> bool:
        """Whether `orbitask serve` processes run the background jobs too."""
        if self.worker_in_serve == "auto":
            return self.writer_url.startswith("sqlite")
        return self.worker_in_serve == "on"

    @property
    def secure_cookies(self) -> bool:
        """Whether cookies carry the Secure flag."""
        return self.cookie_secure if self.cookie_secure is not None else self.env == "production"

    def ensure_data_dir(self) -> Path:
        """The data directory, created (mode 0700) when missing; DataDirError when that is impossible."""
        path = self.data_dir.expanduser().absolute()
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except FileExistsError:
            raise DataDirError(f"{_DATA_DIR_PROBLEM.format(path=path)}: a file is in the way") from None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            if isinstance(exc, NotADirectoryError):
                reason = "a file is in the way of one of its parents"
            raise DataDirError(f"{_DATA_DIR_PROBLEM.format(path=path)}: {reason}") from None
        if not os.access(path, os.W_OK | os.X_OK):
            raise DataDirError(f"{_DATA_DIR_PROBLEM.format(path=path)}: not writable")
        return path

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

    @property
    def multi_region(self) -> bool:
        """Whether other regions are configured (then this region's database may be a replica)."""
        return any(r.name != self.region for r in self.regions)

    @property
    def previous_signing_keys(self) -> list[str]:
        """Retired signing keys, still accepted when verifying tokens."""
        return [k.get_secret_value() for k in self.previous_secret_keys]

    @property
    def hop_secret(self) -> str:
        """The secret behind the region-to-region hop's signatures."""
        return self.forward_secret.get_secret_value() if self.forward_secret else self.signing_key

    def summary(self) -> dict[str, object]:
        """What a person starting the server wants to see: where it listens, where data lives, what runs."""
        url = f"http://{self.host}:{self.port}"
        return {"url": url, "docs": f"{url}/api/docs", "data_dir": str(self.data_dir.absolute()),
                "database": _mask_dsn(self.writer_url), "workers": self.workers, "services": ",".join(self.services),
                "region": self.region}

    def public_url_warning(self) -> str | None:
        """What to tell the operator when ORBITASK_PUBLIC_URL is unset: links are built from a guess."""
        if self._public_url_given:
            return None
        return (f"ORBITASK_PUBLIC_URL is unset: links in e-mails and notifications use {self.public_url}; "
                "set it to the address people open Orbitask at.")

    def shown(self) -> dict[str, object]:
        """Settings for display, secrets masked."""
        out: dict[str, object] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name == "public_url" and not self._public_url_given:
                value = f"unset (links use {value})"
            elif isinstance(value, SecretStr):
                value = "********" if value.get_secret_value() else ""
            elif name.endswith("url") and isinstance(value, str):
                value = _mask_dsn(value)
            elif value is None:
                value = _unset(type(self).model_fields[name].description or "")
            out[name] = value
        return out


def _unset(description: str) -> str:
    """An unset setting as `config show` prints it: with what its description says unset means."""
    if "(default: " in description:
        return f"unset ({description.split('(default: ', 1)[1].removesuffix(')')})"
    for marker in ("default: ", "unset: "):
        if marker in description:
            return f"unset ({description.split(marker, 1)[1]})"
    return "unset"


_DATA_DIR_PROBLEM = "Cannot use the data directory {path} (the setting ORBITASK_DATA_DIR)"


def serve_url(host: str, port: int) -> str:
    """The URL of a server bound to `host` and `port` (a wildcard address is reached on the loopback)."""
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def tighten_data_dir(path: Path) -> str | None:
    """Close an existing data directory to other users (mode 0700); a warning to show when it was open."""
    mode = path.stat().st_mode & 0o777
    if not mode & 0o077:
        return None
    try:
        path.chmod(0o700)
    except OSError as exc:
        return (f"The data directory {path} (ORBITASK_DATA_DIR) is open to other users (mode {mode:04o}) and "
                f"could not be closed: {exc.strerror}; run `chmod 700 {path}`.")
    return f"The data directory {path} (ORBITASK_DATA_DIR) was open to other users (mode {mode:04o}); it is now 0700."


def _read_secret_file(name: str, path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise ValueError(f"ORBITASK_{name.upper()}_FILE: cannot read {path}: {exc.strerror}") from None


def resolve_secret_arn(arn: str) -> str:
    """The current value of a Secrets Manager secret (its region is taken from the ARN).

    A JSON secret may be narrowed to one key with a `#key` suffix, as ECS does:
    `arn:aws:secretsmanager:eu-west-1:123:secret:orbitask-db#password`.
    """
    import json

    import boto3

    arn, _, key = arn.partition("#")
    parts = arn.split(":")
    if len(parts) < 7:
        raise ValueError(f"not a Secrets Manager ARN: {arn[:80]}")
    client = boto3.client("secretsmanager", region_name=parts[3],
                          endpoint_url=os.environ.get("ORBITASK_SECRETS_ENDPOINT_URL") or None)
    try:
        value = client.get_secret_value(SecretId=arn)["SecretString"]
    except Exception as exc:  # the message names the secret, never its value
        raise ValueError(f"cannot read secret {arn}: {type(exc).__name__}") from None
    return str(json.loads(value)[key]) if key else value


def _mask_dsn(dsn: str) -> str:
    """Hide the password in a DSN."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(dsn).render_as_string(hide_password=True)
    except Exception:  # not a DSN: show nothing rather than a secret
        return "********"
