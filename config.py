"""Careflow settings: the one place that reads the environment."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    temporal_address: str = Field(default="localhost:7233", alias="TEMPORAL_ADDRESS")
    temporal_namespace: str = Field(default="default", alias="TEMPORAL_NAMESPACE")
    task_queue: str = Field(default="careflow", alias="CAREFLOW_TASK_QUEUE")
    data_dir: Path = Field(default=Path(".data"), alias="CAREFLOW_DATA_DIR")
    api_host: str = Field(default="127.0.0.1", alias="CAREFLOW_API_HOST")
    api_port: int = Field(default=8000, alias="CAREFLOW_API_PORT")
    temporal_port: int = Field(default=7233, alias="CAREFLOW_TEMPORAL_PORT")
    temporal_ui_port: int = Field(default=8233, alias="CAREFLOW_TEMPORAL_UI_PORT")
    # `careflow dev` runs a local SMTP sink here (unless SMTP_HOST is set) and keeps each mail in .data/mail.
    mail_sink_port: int = Field(default=1025, alias="CAREFLOW_MAIL_SINK_PORT")
    # Where people open the Temporal Web UI; links in the web app point here.
    temporal_ui_url: str = Field(default="http://localhost:8233", alias="TEMPORAL_UI_URL")
    timezone: str = Field(default="Asia/Shanghai", alias="CAREFLOW_TIMEZONE")
    # Where the web app is reached; links in messages point here.
    public_url: str = Field(default="http://127.0.0.1:8000", alias="CAREFLOW_PUBLIC_URL")
    # Email over SMTP (COM-2, ESC-1). Unset host: email is not sent and the outbox says so.
    smtp_host: str | None = Field(default=None, alias="SMTP_HOST")
    smtp_port: int = Field(default=25, alias="SMTP_PORT")
    smtp_from: str = Field(default="Careflow <careflow@localhost>", alias="SMTP_FROM")
    smtp_username: str | None = Field(default=None, alias="SMTP_USERNAME")
    smtp_password: str | None = Field(default=None, alias="SMTP_PASSWORD")
    smtp_starttls: bool = Field(default=False, alias="SMTP_STARTTLS")
    smtp_tls: bool = Field(default=False, alias="SMTP_TLS")
    # SMS and WeChat through an HTTP gateway (POST JSON). Unset: those messages are not sent.
    gateway_url: str | None = Field(default=None, alias="CAREFLOW_GATEWAY_URL")
    gateway_token: str | None = Field(default=None, alias="CAREFLOW_GATEWAY_TOKEN")
    # Signs the survey links customers answer without logging in. Unset: a random key kept in the data dir.
    secret_key: str | None = Field(default=None, alias="CAREFLOW_SECRET_KEY")
    # Sign-in (SEC-4): session cookies get the Secure flag on https requests, or always when this is set
    # (behind a TLS-terminating proxy that forwards plain http); a session lasts this many hours.
    secure_cookies: bool = Field(default=False, alias="CAREFLOW_SECURE_COOKIES")
    session_hours: float = Field(default=12, alias="CAREFLOW_SESSION_HOURS", gt=0)

    def sqlalchemy_url(self) -> str:
        if not self.database_url:
            raise RuntimeError("DATABASE_URL is not set (careflow dev sets it for the embedded Postgres)")
        return to_psycopg_url(self.database_url)

    def signing_key(self) -> str:
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text().strip()


def to_psycopg_url(url: str) -> str:
    """Accept plain postgres:// URLs and point SQLAlchemy at psycopg 3."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@lru_cache
def get_settings() -> Settings:
    return Settings()
