"""A development mail sink: an SMTP server (aiosmtpd) that keeps every message as an .eml file.

``careflow mail-sink`` runs it beside the dev stack (SMTP_HOST=127.0.0.1, SMTP_PORT=<port>), so a demo
shows what Careflow sent without a real mail server. Nothing is relayed anywhere.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger("careflow.mailsink")


class MaildirHandler:
    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir
        self.count = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        data = raw if isinstance(raw, bytes) else raw.encode()
        message = email.message_from_bytes(data, policy=email.policy.default)
        self.count += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        digest = hashlib.sha256(data).hexdigest()[:12]
        path = self.maildir / f"{stamp}-{self.count:05d}-{digest}.eml"
        path.write_bytes(data)
        rcpts = ", ".join(envelope.rcpt_tos)
        log.info("mail to %s: %s", rcpts, message.get("Subject", ""))
        return "250 Message accepted for delivery"


async def serve_mail_sink(host: str, port: int, maildir: Path) -> None:
    """Accept mail on host:port and store each message in maildir; runs until cancelled."""
    maildir.mkdir(parents=True, exist_ok=True)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command at INFO
    handler = MaildirHandler(maildir)
    loop = asyncio.get_running_loop()

    def protocol() -> Any:
        return SMTP(handler, enable_SMTPUTF8=True, hostname="careflow-mail-sink", loop=loop)

    server = await loop.create_server(protocol, host=host, port=port)
    log.info("mail sink on %s:%s, writing %s", host, port, maildir)
    async with server:
        await server.serve_forever()
