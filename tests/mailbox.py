"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives, for mail tests.

``smtp_mailbox`` yields a ``Mailbox``; ``mail_settings`` are the test settings pointed at it and
``mail_app`` the app built with them. Import the fixtures a test module uses
(``from tests.mailbox import mail_app, mail_settings, smtp_mailbox``).
"""

import dataclasses
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from litestar import Litestar

from backend.app import create_app
from backend.context import AppContext
from backend.settings import Settings

LINK = re.compile(r"https?://\S+/password/[A-Za-z0-9_-]+")


class Mailbox:
    """Every message the server accepted, oldest first."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.messages.append(message)
            self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"

    def wait_for(self, count: int = 1, timeout: float = 10.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} mail(s), got {len(self.messages)}")

    @staticmethod
    def text(message: EmailMessage) -> str:
        body = message.get_body(("plain",))
        assert body is not None
        return str(body.get_content())

    @classmethod
    def link(cls, message: EmailMessage) -> str:
        found = LINK.search(cls.text(message))
        assert found, cls.text(message)
        return found.group(0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def smtp_mailbox() -> Iterator[Mailbox]:
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    mailbox.port = controller.port  # type: ignore[attr-defined]
    try:
        yield mailbox
    finally:
        controller.stop()


@pytest.fixture
def mail_settings(settings: Settings, smtp_mailbox: Mailbox) -> Settings:
    return dataclasses.replace(
        settings,
        smtp_host="127.0.0.1",
        smtp_port=smtp_mailbox.port,  # type: ignore[attr-defined]
        smtp_starttls=False,
        smtp_from="learnloop <learnloop@acme.example>",
    )


@pytest.fixture
async def mail_app(mail_settings: Settings) -> AsyncIterator[Litestar]:
    """The app with mail going to ``smtp_mailbox`` (same database as ``app``)."""
    context = AppContext.from_settings(mail_settings, null_pool=True)
    yield create_app(context=context)
    await context.engine.dispose()
