"""The labels people read, in one place that the screens and the REST API both read."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

# Labels shared by many views: written once.
COMMON_LABELS = {
    "id": _l("ID"),
    "customer": _l("Клиент"),
    "created_on": _l("Создано"),
    "changed_on": _l("Изменено"),
    "created_by": _l("Автор"),
    "changed_by": _l("Изменил"),
    "order": _l("Заказ"),
    "specialist": _l("Специалист"),
    "branch": _l("Филиал"),
    "status": _l("Статус"),
    "name": _l("Название"),
    "text": _l("Текст"),
    "comment": _l("Комментарий"),
    "amount": _l("Сумма"),
    "price": _l("Цена"),
    "quantity": _l("Количество"),
}


def N_(msgid: str) -> str:
    """A msgid marked for the catalogs (Babel's own keyword), translated where shown."""
    return msgid


# Texts the system writes into a row (a money operation's comment, why a message was
# not delivered) are stored in one language, the msgids' own (audit.STORED_LOCALE), and
# shown in the reader's by matching the templates they were written from.
@functools.cache
def _stored_patterns(msgids: tuple[str, ...]) -> tuple:
    parts = re.compile(r"%\((\w+)\)s")
    return tuple(
        (
            re.compile(
                "".join(
                    f"(?P<{piece}>.+?)" if n % 2 else re.escape(piece)
                    for n, piece in enumerate(parts.split(msgid))
                )
                + r"\Z",
                re.S,
            ),
            msgid,
        )
        for msgid in msgids
    )


def stored_text_label(text: str, templates: dict[str, tuple[str, ...]], again: Callable[[str, str], str]):
    """``text`` in the reader's language if it was written from one of ``templates``
    (msgid: the parameters to show again, each through ``again(name, value)``, which
    raises ValueError when the value is not what the template meant); None otherwise."""
    for pattern, msgid in _stored_patterns(tuple(templates)):
        found = pattern.match(str(text))
        if found is None:
            continue
        params = found.groupdict()
        try:
            for name in templates[msgid]:
                params[name] = again(name, params[name])
        except ValueError:  # staff's own text that looks like one
            continue
        return _(msgid, **params) if params else _(msgid)
    return None


# Texts the app writes for every reader (the change history's statuses, the money
# comments, the messages' delivery reasons) are stored in one language, the msgids' own,
# and shown in the reader's (stored_text_label).
STORED_LOCALE = "ru"


def system_comment(write) -> str:
    """The text ``write()`` gives, written in the stored language."""
    from flask_babel import force_locale

    with force_locale(STORED_LOCALE):
        return str(write())
