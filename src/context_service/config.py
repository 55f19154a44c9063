"""Settings: one typed object built once from the environment (legacy variable names kept)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the service; nothing else reads os.environ."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    grpc_host: str = Field(default="0.0.0.0", alias="GRPC_HOST")
    grpc_port: int = Field(default=50054, ge=0, le=65535, alias="GRPC_PORT")
    grpc_max_message_bytes: int = Field(default=8 * 1024 * 1024, ge=1024, alias="GRPC_MAX_MESSAGE_BYTES")
    shutdown_grace_seconds: float = Field(default=10.0, ge=0, alias="SHUTDOWN_GRACE_SECONDS")
    graph_backend: Literal["memory"] = Field(default="memory", alias="GRAPH_BACKEND")
    kv_backend: Literal["memory"] = Field(default="memory", alias="KV_BACKEND")
    enable_nats: bool = Field(default=False, alias="ENABLE_NATS")
    prompt_scopes_path: Path | None = Field(default=None, alias="PROMPT_SCOPES_PATH")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", alias="LOG_LEVEL")
    log_format: Literal["json", "console", "auto"] = Field(default="auto", alias="LOG_FORMAT")
    seed_demo: bool = Field(default=False, alias="SEED_DEMO")
