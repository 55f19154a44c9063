"""Settings: one typed object built once from the environment (legacy variable names kept).

Each adapter receives only its own section. Secrets are `SecretStr`, read from the variable itself or from
the file named by `<VARIABLE>_FILE` (a mounted Kubernetes Secret).
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_RESPONSE_CACHE_BYTES = 64 * 1024 * 1024
MAX_WORKERS = 64

GraphBackend = Literal["neo4j", "falkordb", "memory"]
KvBackend = Literal["memory", "cachetools", "valkey", "sqlite"]
EventLoop = Literal["uvloop", "asyncio"]
# bolt: one server; neo4j: a routing driver (a cluster, or one server). +s: TLS verified against the system
# CAs (or NEO4J_TRUSTED_CA_FILE); +ssc: TLS trusting any certificate.
NEO4J_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")


class _Section(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="", case_sensitive=False, extra="ignore", populate_by_name=True
    )


def _secret_from_file(value: SecretStr | None, path: Path | None, variable: str) -> SecretStr | None:
    """The secret itself, else the stripped content of its `_FILE` (unreadable file: a clear error)."""
    if value is not None or path is None:
        return value
    try:
        return SecretStr(path.read_text(encoding="utf-8").strip())
    except OSError as exc:
        raise ValueError(f"{variable}_FILE: cannot read {path}: {exc.strerror}") from None


class GrpcSettings(_Section):
    """The gRPC server: address, limits, shutdown, TLS and token authentication."""

    host: str = Field(default="0.0.0.0", alias="GRPC_HOST")
    port: int = Field(default=50054, ge=0, le=65535, alias="GRPC_PORT")
    max_message_bytes: int = Field(default=8 * 1024 * 1024, ge=1024, alias="GRPC_MAX_MESSAGE_BYTES")
    max_concurrent_rpcs: int = Field(default=256, ge=1, alias="GRPC_MAX_CONCURRENT_RPCS")
    shutdown_grace_seconds: float = Field(default=10.0, ge=0, alias="SHUTDOWN_GRACE_SECONDS")
    tls_cert_file: Path | None = Field(default=None, alias="GRPC_TLS_CERT_FILE")
    tls_key_file: Path | None = Field(default=None, alias="GRPC_TLS_KEY_FILE")
    tls_client_ca_file: Path | None = Field(default=None, alias="GRPC_TLS_CLIENT_CA_FILE")
    auth_tokens_file: Path | None = Field(default=None, alias="GRPC_AUTH_TOKENS_FILE")

    @model_validator(mode="after")
    def _tls_pair(self) -> GrpcSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE must be set together")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("GRPC_TLS_CLIENT_CA_FILE (mutual TLS) needs GRPC_TLS_CERT_FILE and _KEY_FILE")
        return self


class Neo4jSettings(_Section):
    """The Neo4j graph backend (official async driver)."""

    uri: str = Field(default="bolt://neo4j:7687", alias="NEO4J_URI")
    user: str = Field(default="neo4j", min_length=1, alias="NEO4J_USER")
    password: SecretStr | None = Field(default=None, alias="NEO4J_PASSWORD")
    password_file: Path | None = Field(default=None, alias="NEO4J_PASSWORD_FILE")
    database: str = Field(default="neo4j", min_length=1, alias="NEO4J_DATABASE")
    max_pool_size: int = Field(default=50, ge=1, alias="NEO4J_MAX_POOL_SIZE")
    trusted_ca_file: Path | None = Field(default=None, alias="NEO4J_TRUSTED_CA_FILE")

    @field_validator("uri")
    @classmethod
    def _uri(cls, value: str) -> str:
        scheme, separator, _ = value.partition("://")
        if not separator or scheme not in NEO4J_SCHEMES:
            raise ValueError(f"must start with one of {', '.join(s + '://' for s in NEO4J_SCHEMES)}")
        try:
            parts = urlsplit(value)
            _ = parts.port  # raises on a port that is not a number in range
        except ValueError as exc:
            raise ValueError(f"is not a valid URI ({exc})") from None
        if not parts.hostname:
            raise ValueError("names no host")
        return value

    @field_validator("trusted_ca_file")
    @classmethod
    def _ca_file(cls, value: Path | None) -> Path | None:
        if value is not None:
            try:
                ssl.create_default_context(cafile=str(value))
            except ssl.SSLError as exc:
                raise ValueError(f"cannot load {value} as PEM CA certificates: {exc.reason}") from None
            except OSError as exc:
                reason = exc.strerror or str(exc)
                raise ValueError(f"cannot load {value} as PEM CA certificates: {reason}") from None
        return value

    @model_validator(mode="after")
    def _from_file(self) -> Neo4jSettings:
        if self.trusted_ca_file is not None and self.uri.partition("://")[0].endswith("+ssc"):
            raise ValueError(
                "NEO4J_TRUSTED_CA_FILE cannot be used with a +ssc:// NEO4J_URI (it trusts any certificate); "
                "use +s:// or a plain scheme"
            )
        self.password = _secret_from_file(self.password, self.password_file, "NEO4J_PASSWORD")
        return self


class FalkorSettings(_Section):
    """The FalkorDB graph backend (its own protocol, pooled asyncio client)."""

    url: str = Field(default="redis://localhost:6380", alias="FALKORDB_URL")
    graph: str = Field(default="context", min_length=1, alias="FALKORDB_GRAPH")
    max_connections: int = Field(default=16, ge=1, alias="FALKORDB_MAX_CONNECTIONS")


class ValkeySettings(_Section):
    """Valkey (Redis protocol): planning read-models and, with KV_BACKEND=valkey, the key-value store."""

    url: str | None = Field(default=None, alias="VALKEY_URL")
    host: str = Field(default="redis", alias="REDIS_HOST")
    port: int = Field(default=6379, ge=1, le=65535, alias="REDIS_PORT")
    username: str | None = Field(default=None, alias="REDIS_USERNAME")
    password: SecretStr | None = Field(default=None, alias="REDIS_PASSWORD")
    password_file: Path | None = Field(default=None, alias="REDIS_PASSWORD_FILE")
    tls: bool = Field(default=False, alias="REDIS_TLS")
    tls_ca_file: Path | None = Field(default=None, alias="REDIS_TLS_CA_FILE")
    db: int = Field(default=0, ge=0, alias="REDIS_DB")
    max_connections: int = Field(default=32, ge=1, alias="REDIS_MAX_CONNECTIONS")
    # Valkey Cluster: the address names any startup node; the client discovers the others.
    cluster: bool = Field(default=False, alias="VALKEY_CLUSTER")
    # Writes whose loss would lose an event or an acknowledged write wait for this many replicas
    # (WAIT); unset: 1 in cluster mode, 0 on a single node.
    wait_replicas: int | None = Field(default=None, ge=0, le=16, alias="VALKEY_WAIT_REPLICAS")
    wait_timeout_ms: int = Field(default=100, ge=1, le=60_000, alias="VALKEY_WAIT_TIMEOUT_MS")

    @model_validator(mode="after")
    def _from_file(self) -> ValkeySettings:
        self.password = _secret_from_file(self.password, self.password_file, "REDIS_PASSWORD")
        if self.cluster and (self.db or urlsplit(self.address).path.strip("/") not in ("", "0")):
            raise ValueError("VALKEY_CLUSTER=true serves database 0 only (REDIS_DB or the URL path)")
        return self

    @property
    def replicas_to_wait(self) -> int:
        """How many replicas a durable write waits for (VALKEY_WAIT_REPLICAS, else 1 on a cluster)."""
        if self.wait_replicas is not None:
            return self.wait_replicas
        return 1 if self.cluster else 0

    @property
    def address(self) -> str:
        """The connection URL (VALKEY_URL wins; credentials are passed separately, never in the URL)."""
        if self.url:
            return self.url
        scheme = "rediss" if self.tls else "redis"
        database = "" if self.cluster else f"/{self.db}"
        return f"{scheme}://{self.host}:{self.port}{database}"


class KvSettings(_Section):
    """The key-value context store (idempotency records, dedup markers, outbox, caches)."""

    backend: KvBackend | None = Field(default=None, alias="KV_BACKEND")
    sqlite_path: Path = Field(default=Path("context-kv.sqlite3"), alias="KV_SQLITE_PATH")
    cache_max_entries: int = Field(default=10_000, ge=1, alias="KV_CACHE_MAX_ENTRIES")
    # The service's keys already start with "ctx:"; this adds a namespace in front (e.g. per environment).
    key_prefix: str = Field(default="", alias="KV_KEY_PREFIX")

    @field_validator("key_prefix")
    @classmethod
    def _no_hash_tag(cls, value: str) -> str:
        # A brace in the prefix would become every key's hash tag and put all keys in one cluster slot.
        if "{" in value or "}" in value:
            raise ValueError("KV_KEY_PREFIX must not contain '{' or '}' (Valkey Cluster hash tags)")
        return value


class NatsSettings(_Section):
    """NATS JetStream (planning and orchestration events, request/response subjects)."""

    enabled: bool = Field(default=True, alias="ENABLE_NATS")
    url: str = Field(default="nats://nats:4222", alias="NATS_URL")
    creds_file: Path | None = Field(default=None, alias="NATS_CREDS")
    tls_ca_file: Path | None = Field(default=None, alias="NATS_TLS_CA_FILE")
    fetch_batch: int = Field(default=32, ge=1, le=1024, alias="NATS_FETCH_BATCH")
    max_deliver: int = Field(default=5, ge=1, alias="NATS_MAX_DELIVER")
    ack_wait_seconds: float = Field(default=30.0, gt=0, alias="NATS_ACK_WAIT_SECONDS")


class ObservabilitySettings(_Section):
    """Logs, Prometheus metrics and OpenTelemetry tracing."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", alias="LOG_LEVEL")
    log_format: Literal["json", "console", "auto"] = Field(default="auto", alias="LOG_FORMAT")
    metrics_enabled: bool = Field(default=True, alias="METRICS_ENABLED")
    metrics_port: int = Field(default=9090, ge=0, le=65535, alias="METRICS_PORT")  # 0: any free port
    metrics_host: str = Field(default="0.0.0.0", alias="METRICS_HOST")
    traces_exporter: Literal["none", "otlp", "console"] = Field(default="none", alias="OTEL_TRACES_EXPORTER")
    otlp_endpoint: str | None = Field(default=None, alias="OTEL_EXPORTER_OTLP_ENDPOINT")
    service_name: str = Field(default="context-service", alias="OTEL_SERVICE_NAME")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @property
    def tracing_enabled(self) -> bool:
        """Tracing is off unless an exporter is configured (an OTLP endpoint alone selects OTLP)."""
        return self.traces_exporter != "none" or self.otlp_endpoint is not None


class SessionSettings(_Section):
    """The shared session context (fleet.context.session.v1)."""

    idle_expiry_seconds: float = Field(default=24 * 3600.0, gt=0, alias="SESSION_IDLE_EXPIRY_SECONDS")
    log_retention: int = Field(default=10_000, ge=1, alias="SESSION_LOG_RETENTION")
    progress_seconds: float = Field(default=10.0, gt=0, le=10.0, alias="SESSION_PROGRESS_SECONDS")
    sweep_interval_seconds: float = Field(default=0.25, gt=0, le=1.0, alias="SESSION_SWEEP_INTERVAL_SECONDS")
    watch_max_connections: int = Field(default=1024, ge=1, alias="SESSION_WATCH_MAX_CONNECTIONS")
    # How many changes a watcher may fall behind the session's shared reader before it is cut off the
    # fan-out and reads the change log on its own (at least one full read of 2,000 changes).
    watch_queue_events: int = Field(default=4096, ge=2000, alias="SESSION_WATCH_QUEUE_EVENTS")


class StoreSettings(_Section):
    """Timeouts and start-up retries shared by every store adapter."""

    timeout_seconds: float = Field(default=2.0, gt=0, alias="STORE_TIMEOUT_SECONDS")
    startup_retry_seconds: float = Field(default=30.0, ge=0, alias="STORE_STARTUP_RETRY_SECONDS")
    health_interval_seconds: float = Field(default=2.0, gt=0, alias="HEALTH_CHECK_INTERVAL_SECONDS")
    # Change records kept per story; older ones are trimmed, oldest first, right after each write.
    history_retention: int = Field(default=10_000, ge=1, alias="HISTORY_RETENTION")


class Settings(_Section):
    """Every knob of the service; nothing else reads os.environ."""

    graph_backend: GraphBackend = Field(default="neo4j", alias="GRAPH_BACKEND")
    prompt_scopes_path: Path | None = Field(default=None, alias="PROMPT_SCOPES_PATH")
    seed_demo: bool = Field(default=False, alias="SEED_DEMO")
    # Finished GetContext and RehydrateSession answers kept per process (0: no response cache).
    response_cache_max_bytes: int = Field(
        default=DEFAULT_RESPONSE_CACHE_BYTES, ge=0, alias="RESPONSE_CACHE_MAX_BYTES"
    )
    # Skip the cache's freshness reads while FalkorDB and Valkey push no change (CLIENT TRACKING).
    response_cache_tracking: bool = Field(default=True, alias="RESPONSE_CACHE_TRACKING")
    grpc: GrpcSettings = Field(default_factory=GrpcSettings)
    neo4j: Neo4jSettings = Field(default_factory=Neo4jSettings)
    falkordb: FalkorSettings = Field(default_factory=FalkorSettings)
    valkey: ValkeySettings = Field(default_factory=ValkeySettings)
    kv: KvSettings = Field(default_factory=KvSettings)
    nats: NatsSettings = Field(default_factory=NatsSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
    stores: StoreSettings = Field(default_factory=StoreSettings)
    sessions: SessionSettings = Field(default_factory=SessionSettings)
    # Service processes sharing the gRPC port (`serve --workers N`; 1: the process itself serves).
    workers: int = Field(default=1, ge=1, le=MAX_WORKERS, alias="WORKERS")
    # The event loop a served process runs on: libuv's (uvloop) or asyncio's own.
    event_loop: EventLoop = Field(default="uvloop", alias="EVENT_LOOP")

    @model_validator(mode="after")
    def _required_for_backend(self) -> Settings:
        if self.graph_backend == "neo4j" and self.neo4j.password is None:
            raise ValueError("NEO4J_PASSWORD (or NEO4J_PASSWORD_FILE) is required when GRAPH_BACKEND=neo4j")
        if self.workers > 1 and (problem := self.unshared_stores()):
            raise ValueError(f"WORKERS={self.workers}: {problem}")
        return self

    def unshared_stores(self) -> str:
        """Why several worker processes could not serve on these stores ("" when they can): each would
        keep its own in-process graph or keys, and a write through one would never reach another."""
        if self.graph_backend == "memory" or self.kv_backend != "valkey":
            return (
                "several workers need stores they share (GRAPH_BACKEND falkordb or neo4j, KV_BACKEND valkey)"
            )
        return ""

    @property
    def kv_backend(self) -> KvBackend:
        """KV_BACKEND, else valkey, or memory when the whole service runs in memory."""
        if self.kv.backend is not None:
            return self.kv.backend
        return "memory" if self.graph_backend == "memory" else "valkey"

    @property
    def uses_valkey(self) -> bool:
        """Valkey holds the planning read-models unless everything runs in memory."""
        return self.graph_backend != "memory" or self.kv_backend == "valkey"
