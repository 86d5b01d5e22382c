"""Delivery channels: SMTP e-mail, HTTP gateways for SMS and push, a file channel for development.

Each ``send()`` returns the provider's message id, or raises TransientError
(worth retrying: timeouts, 5xx, SMTP 4xx) or PermanentError (not: a rejected
number, HTTP 4xx, SMTP 5xx), with the reason in the clinic's language and the
provider's answer beside it.
"""

from __future__ import annotations

import http.client
import json
import smtplib
import urllib.error
import urllib.request
from email.message import EmailMessage
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _


class DeliveryError(Exception):
    """A send that did not go through: ``reason`` in the clinic's language (shown to staff,
    written to the log), ``answer`` the provider's own words, kept beside it as they came."""

    def __init__(self, reason: str, answer: str = ""):
        super().__init__(reason)
        self.reason, self.answer = reason, (answer or "").strip()

    def __str__(self) -> str:
        return f"{self.reason}: {self.answer}" if self.answer else self.reason


class TransientError(DeliveryError):
    """Worth retrying. ``uncertain``: the provider took the message and its answer never
    came (a timeout or a dropped connection after the request was sent): it may have
    reached the customer, and a retry may reach them a second time."""

    def __init__(self, reason: str, answer: str = "", uncertain: bool = False):
        super().__init__(reason, answer)
        self.uncertain = uncertain


class PermanentError(DeliveryError):
    pass


def out_of_time(message, error: Exception) -> TransientError:
    """RQ's job timeout (``JobTimeoutException``) ended a send in the middle: the provider
    had the request and its answer did not come in the job's time. Like a timeout of
    the provider's own, it may have reached the customer: retried, and marked once sent
    again. It read «Внутренняя ошибка при отправке: JobTimeoutException», «Ошибка» for
    good, a message that may never have gone out left unsent."""
    from rq import get_current_job

    job = get_current_job()
    seconds = job.timeout if job is not None and job.timeout else "?"
    if message.channel.value == "email":
        reason = _(
            "Почтовый сервер не ответил вовремя: отправку прервали через %(seconds)s с (оно могло дойти)",
            seconds=seconds,
        )
    else:
        reason = _(
            "Шлюз не ответил вовремя: отправку прервали через %(seconds)s с (оно могло дойти)",
            seconds=seconds,
        )
    return TransientError(reason, f"{type(error).__name__}: {error}", uncertain=True)


def send(message) -> str:
    """Deliver ``message`` (a Message row) through the channel configured for it."""
    mode = current_app.config["NOTIFY_CHANNELS"].get(message.channel.value, "off")
    if mode == "file":
        return _file(message)
    if mode == "smtp" and message.channel.value == "email":
        return _smtp(message)
    if mode == "gateway" and message.channel.value in ("sms", "push"):
        return _gateway(message)
    raise PermanentError(_("Канал «%(channel)s» выключен в настройках", channel=message.channel.label))


def recipient(message) -> str | None:
    customer = message.customer
    if message.channel.value == "email":
        return customer.email
    if message.channel.value == "sms":
        return customer.phone
    return f"customer:{customer.id}"  # push: the app knows the customer's devices


def _file(message) -> str:
    folder = Path(current_app.config["INSTANCE_DIR"]) / "outbox"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{message.id:08d}-{message.channel.value}.txt"
    path.write_text(
        f"To: {recipient(message)}\nSubject: {message.subject or ''}\n\n{message.body}\n", encoding="utf-8"
    )
    return f"file:{path.name}"


def message_id(message) -> str:
    """The e-mail's Message-ID: the row's delivery key, the same on every attempt, so
    that a retry is recognisably the same letter (RFC 5322 §3.6.4)."""
    domain = current_app.config["SMTP_FROM"].rpartition("@")[2] or "kartoteka.invalid"
    return f"<{message.delivery_key}@{domain}>"


def _smtp_answer(error: smtplib.SMTPResponseException) -> str:
    text = error.smtp_error
    return text.decode(errors="replace") if isinstance(text, bytes) else str(text)


class _SMTP(smtplib.SMTP):
    """smtplib's client, knowing whether the whole letter went to the server: a failure
    after that (no answer to it) leaves the letter possibly delivered."""

    letter_sent = False

    def send(self, s):
        super().send(s)
        if isinstance(s, bytes) and s.endswith(b"\r\n.\r\n"):  # DATA's end (smtplib's data())
            self.letter_sent = True


def _smtp(message) -> str:
    config = current_app.config
    email = EmailMessage()
    email["From"] = config["SMTP_FROM"]
    email["To"] = recipient(message)
    email["Subject"] = message.subject or ""
    email["Message-ID"] = message_id(message)
    email.set_content(message.body)
    smtp = None
    try:
        smtp = _SMTP(config["SMTP_HOST"], config["SMTP_PORT"], timeout=config["GATEWAY_TIMEOUT"])
        if config["SMTP_USER"]:
            smtp.starttls()
            smtp.login(config["SMTP_USER"], config["SMTP_PASSWORD"])
        refused = smtp.send_message(email)
    except smtplib.SMTPRecipientsRefused as e:
        code, text = next(iter(e.recipients.values()), (0, b""))
        _refused(code, text)
    except smtplib.SMTPResponseException as e:
        if 500 <= e.smtp_code < 600:
            raise PermanentError(
                _("Почтовый сервер отклонил письмо (%(code)s)", code=e.smtp_code), _smtp_answer(e)
            ) from e
        raise TransientError(
            _("Почтовый сервер временно не принял письмо (%(code)s)", code=e.smtp_code), _smtp_answer(e)
        ) from e
    except (OSError, smtplib.SMTPException) as e:
        if smtp is not None and smtp.letter_sent:
            raise TransientError(
                _("Почтовый сервер не ответил на письмо (оно могло дойти)"),
                f"{type(e).__name__}: {e}",
                uncertain=True,
            ) from e
        raise TransientError(_("Почтовый сервер недоступен"), f"{type(e).__name__}: {e}") from e
    finally:
        if smtp is not None:
            _goodbye(smtp)
    if refused:
        code, text = next(iter(refused.values()))
        _refused(code, text)
    return email["Message-ID"]


def _goodbye(smtp: smtplib.SMTP) -> None:
    """QUIT, whatever the server answers to it: smtplib's ``with`` raised an answer other
    than 221 as a refusal, and a letter the server had taken (250) was sent again or
    marked «Ошибка»."""
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()


def _refused(code: int, text) -> None:
    answer = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    if 400 <= code < 500:
        raise TransientError(
            _("Почтовый сервер временно не принял адрес получателя (%(code)s)", code=code), answer
        )
    raise PermanentError(_("Почтовый сервер отклонил адрес получателя (%(code)s)", code=code), answer)


def _gateway(message) -> str:
    config = current_app.config
    prefix = "SMS" if message.channel.value == "sms" else "PUSH"
    url = config[f"{prefix}_GATEWAY_URL"]
    if not url:
        raise PermanentError(_("Адрес шлюза «%(channel)s» не настроен", channel=message.channel.label))
    key = message.delivery_key
    payload = json.dumps({"to": recipient(message), "text": message.body, "reference": key}).encode()
    request = urllib.request.Request(
        url,
        data=payload,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {config[f'{prefix}_GATEWAY_TOKEN']}",
            # The same on every attempt: a gateway that honours it drops the repeat.
            "Idempotency-Key": key,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=config["GATEWAY_TIMEOUT"]) as response:
            body = response.read().decode(errors="replace") or "{}"
    except urllib.error.HTTPError as e:
        answer = e.read().decode(errors="replace")[:1000]
        if 500 <= e.code < 600 or e.code in (408, 429):
            raise TransientError(
                _("Шлюз временно не принял сообщение (%(code)s)", code=e.code), answer
            ) from e
        raise PermanentError(_("Шлюз отклонил сообщение (%(code)s)", code=e.code), answer) from e
    except urllib.error.URLError as e:  # urllib's wrap of a failure before the request was sent
        raise TransientError(_("Шлюз недоступен"), f"{type(e).__name__}: {e}") from e
    except (OSError, http.client.HTTPException) as e:
        # The request went and its answer did not come (a timeout, a dropped connection):
        # the gateway may have the message, and one that ignores Idempotency-Key sends a retry again.
        raise TransientError(
            _("Шлюз не ответил на сообщение (оно могло дойти)"), f"{type(e).__name__}: {e}", uncertain=True
        ) from e
    try:
        return str(json.loads(body).get("id") or key)
    except (ValueError, AttributeError):
        return key
