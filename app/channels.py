"""Delivery channels: SMTP e-mail, HTTP gateways for SMS and push, a file channel for development.

Each ``send()`` returns the provider's message id, or raises TransientError
(worth retrying: timeouts, 5xx) or PermanentError (not: a rejected number, 4xx).
"""

from __future__ import annotations

import json
import smtplib
import urllib.error
import urllib.request
from email.message import EmailMessage
from pathlib import Path

from flask import current_app


class DeliveryError(Exception):
    pass


class TransientError(DeliveryError):
    pass


class PermanentError(DeliveryError):
    pass


def send(message) -> str:
    """Deliver ``message`` (a Message row) through the channel configured for it."""
    mode = current_app.config["NOTIFY_CHANNELS"].get(message.channel.value, "off")
    if mode == "file":
        return _file(message)
    if mode == "smtp" and message.channel.value == "email":
        return _smtp(message)
    if mode == "gateway" and message.channel.value in ("sms", "push"):
        return _gateway(message)
    raise PermanentError(f"channel {message.channel.value} is off")


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


def _smtp(message) -> str:
    config = current_app.config
    email = EmailMessage()
    email["From"] = config["SMTP_FROM"]
    email["To"] = recipient(message)
    email["Subject"] = message.subject or ""
    email["Message-ID"] = f"<message-{message.id}@kartoteka>"
    email.set_content(message.body)
    try:
        with smtplib.SMTP(
            config["SMTP_HOST"], config["SMTP_PORT"], timeout=config["GATEWAY_TIMEOUT"]
        ) as smtp:
            if config["SMTP_USER"]:
                smtp.starttls()
                smtp.login(config["SMTP_USER"], config["SMTP_PASSWORD"])
            refused = smtp.send_message(email)
    except smtplib.SMTPRecipientsRefused as e:
        raise PermanentError("recipient refused by the mail server") from e
    except smtplib.SMTPResponseException as e:
        if 500 <= e.smtp_code < 600:
            raise PermanentError(f"mail server answered {e.smtp_code}") from e
        raise TransientError(f"mail server answered {e.smtp_code}") from e
    except (OSError, smtplib.SMTPException) as e:
        raise TransientError(f"mail server unreachable: {type(e).__name__}") from e
    if refused:
        raise PermanentError("recipient refused by the mail server")
    return email["Message-ID"]


def _gateway(message) -> str:
    config = current_app.config
    prefix = "SMS" if message.channel.value == "sms" else "PUSH"
    url = config[f"{prefix}_GATEWAY_URL"]
    if not url:
        raise PermanentError(f"{prefix} gateway URL is not configured")
    payload = json.dumps(
        {"to": recipient(message), "text": message.body, "reference": f"message-{message.id}"}
    ).encode()
    request = urllib.request.Request(
        url,
        data=payload,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {config[f'{prefix}_GATEWAY_TOKEN']}",
            # The gateway drops a repeat of the same key: a retry never sends twice.
            "Idempotency-Key": f"message-{message.id}",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=config["GATEWAY_TIMEOUT"]) as response:
            body = response.read().decode() or "{}"
    except urllib.error.HTTPError as e:
        if 500 <= e.code < 600 or e.code == 429:
            raise TransientError(f"gateway answered {e.code}") from e
        raise PermanentError(f"gateway refused the message ({e.code}): {e.read().decode()[:200]}") from e
    except (OSError, TimeoutError) as e:
        raise TransientError(f"gateway unreachable: {type(e).__name__}") from e
    try:
        return str(json.loads(body).get("id") or f"message-{message.id}")
    except ValueError:
        return f"message-{message.id}"
