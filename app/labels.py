"""The labels people read, in one place that the screens and the REST API both read."""

from __future__ import annotations

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
