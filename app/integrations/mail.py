"""SMTP: send one email (``smtplib``, STARTTLS when configured). The outbox rules
(attempts, what counts as permanent) live in ``services.notifications``.

``MailRejected``: the server refused this message or its recipient (retrying will not
help). ``MailUnavailable``: the server could not be reached or failed for now.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid


class MailRejected(Exception):
    pass


class MailUnavailable(Exception):
    pass


class SmtpSender:
    """Sends through one SMTP connection per batch (``with SmtpSender(config) as send:``)."""

    def __init__(self, config: dict, timeout: float = 15):
        self.config, self.timeout, self.smtp = config, timeout, None

    def __enter__(self):
        host = self.config.get("SMTP_HOST")
        if not host:
            raise MailUnavailable("SMTP_HOST is not set: emails stay queued until it is")
        try:
            self.smtp = smtplib.SMTP(host, int(self.config.get("SMTP_PORT") or 587), timeout=self.timeout)
            if self.config.get("SMTP_STARTTLS"):
                self.smtp.starttls(context=ssl.create_default_context())
            if self.config.get("SMTP_USERNAME"):
                self.smtp.login(self.config["SMTP_USERNAME"], self.config.get("SMTP_PASSWORD") or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise MailUnavailable(f"SMTP login refused: {exc.smtp_code} {exc.smtp_error!r}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise MailUnavailable(f"SMTP server {host} unavailable: {exc}") from exc
        return self.send

    def send(self, to: str, subject: str, body: str) -> str:
        message = EmailMessage()
        message["From"] = self.config.get("MAIL_FROM") or "atrium@localhost"
        message["To"] = to
        message["Subject"] = subject
        message["Message-ID"] = make_msgid(domain="atrium")
        message.set_content(body)
        try:
            self.smtp.send_message(message)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as exc:
            raise MailRejected(str(exc)) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise MailUnavailable(str(exc)) from exc
        return message["Message-ID"]

    def __exit__(self, *exc):
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass
