"""Channel adapters: how one rendered message leaves Careflow (email over SMTP, SMS/WeChat over a gateway).

Each adapter is small and swappable. It either returns (the receiver accepted the message) or raises
``ChannelError``. Every message carries its row key — as the email ``Message-ID`` or the gateway's
``Idempotency-Key`` — so a receiver can drop the one duplicate a crash between "accepted" and "marked
sent" can cause.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Protocol

import aiosmtplib
import httpx

from config import Settings


@dataclass(frozen=True)
class Outgoing:
    key: str  # the notifications row key: stable across retries
    channel: str
    to: str
    subject: str
    body: str


class ChannelError(Exception):
    """The receiver refused the message or could not be reached; the send is retried."""


class Sender(Protocol):
    channel: str

    def unavailable(self) -> str | None:
        """Why this channel cannot send (not configured), or None when it can."""

    async def send(self, message: Outgoing) -> None: ...


def message_id(key: str, sender: str) -> str:
    """The same row key always gives the same Message-ID, so a resent copy can be recognised."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "careflow.local"
    return f"<careflow.{hashlib.sha256(key.encode()).hexdigest()[:40]}@{domain}>"


def email_message(message: Outgoing, sender: str) -> EmailMessage:
    email = EmailMessage()  # policy.default: RFC 5322, non-ASCII headers RFC 2047-encoded
    email["From"] = sender
    email["To"] = message.to
    email["Subject"] = message.subject
    email["Date"] = formatdate(localtime=False, usegmt=True)
    email["Message-ID"] = message_id(message.key, sender)
    email["X-Careflow-Key"] = message.key
    email.set_content(message.body, charset="utf-8")
    return email


class EmailSender:
    channel = "email"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def unavailable(self) -> str | None:
        return None if self.settings.smtp_host else "SMTP_HOST is not set: email is not configured"

    async def send(self, message: Outgoing) -> None:
        s = self.settings
        try:
            await aiosmtplib.send(
                email_message(message, s.smtp_from),
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username,
                password=s.smtp_password,
                use_tls=s.smtp_tls,
                start_tls=s.smtp_starttls,
                timeout=30,
            )
        except (aiosmtplib.SMTPException, OSError) as err:
            raise ChannelError(f"SMTP {s.smtp_host}:{s.smtp_port}: {err}") from err


class GatewaySender:
    """SMS and WeChat through one HTTP gateway: POST JSON {key, channel, to, text}; 2xx is accepted."""

    def __init__(self, settings: Settings, channel: str) -> None:
        self.settings = settings
        self.channel = channel

    def unavailable(self) -> str | None:
        if self.settings.gateway_url:
            return None
        return f"CAREFLOW_GATEWAY_URL is not set: {self.channel} is not configured"

    async def send(self, message: Outgoing) -> None:
        s = self.settings
        assert s.gateway_url
        headers = {"Idempotency-Key": message.key}
        if s.gateway_token:
            headers["Authorization"] = f"Bearer {s.gateway_token}"
        # An SMS is the body alone; a WeChat message has room for its title.
        text = message.body if self.channel == "sms" else f"{message.subject}\n{message.body}"
        payload = {"key": message.key, "channel": self.channel, "to": message.to, "text": text}
        try:
            async with httpx.AsyncClient(timeout=15) as client:
                response = await client.post(s.gateway_url, json=payload, headers=headers)
        except httpx.HTTPError as err:
            raise ChannelError(f"gateway {s.gateway_url}: {err!r}") from err
        if not response.is_success:
            raise ChannelError(f"gateway HTTP {response.status_code}: {response.text[:300]}")


def senders(settings: Settings) -> dict[str, Sender]:
    return {
        "email": EmailSender(settings),
        "sms": GatewaySender(settings, "sms"),
        "wechat": GatewaySender(settings, "wechat"),
        "app": GatewaySender(settings, "app"),
    }
