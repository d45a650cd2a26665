"""Outgoing mail over SMTP, configured by the LEARNLOOP_SMTP_* settings.

learnloop sends few mails (invitations and password-reset links), so each is one SMTP
session run in a worker thread with the standard library's ``smtplib``: no pool, no queue.
Without ``LEARNLOOP_SMTP_HOST`` nothing is sent and the caller shows the link instead.
"""

import asyncio
import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from backend.settings import Settings

log = logging.getLogger("learnloop.mail")

SMTP_TIMEOUT_SECONDS = 15.0


class MailError(RuntimeError):
    """The SMTP server could not be reached or refused the message."""


@dataclass(frozen=True)
class Mail:
    to_address: str
    to_name: str
    subject: str
    text: str


def build_message(settings: Settings, mail: Mail) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = formataddr((mail.to_name, mail.to_address))
    message["Subject"] = mail.subject
    domain = settings.smtp_from.rpartition("@")[2].strip("> ") or "localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail.text)
    return message


def _send(settings: Settings, message: EmailMessage) -> None:
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password)
        smtp.send_message(message)


async def send(settings: Settings, mail: Mail) -> None:
    """Deliver ``mail`` to the SMTP server; raises ``MailError`` when that fails."""
    if not settings.mail_configured:
        raise MailError("no SMTP server is configured (LEARNLOOP_SMTP_HOST)")
    message = build_message(settings, mail)
    try:
        await asyncio.to_thread(_send, settings, message)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("mail to %s not sent: %s", mail.to_address, exc)
        raise MailError(str(exc)) from exc
