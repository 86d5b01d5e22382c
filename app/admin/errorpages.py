"""Error pages in the user's language, inside the app's layout (Werkzeug's are English)."""

from __future__ import annotations

from flask import (
    current_app,
    jsonify,
    render_template,
    request,
)
from flask_babel import lazy_gettext as _l

from . import headers

ERROR_MESSAGES = {
    400: _l("Запрос не понят: проверьте адрес и форму и попробуйте ещё раз."),
    403: _l("Нет доступа: у вашей роли нет прав на эту страницу или действие."),
    404: _l("Страница не найдена."),
    405: _l("Так эта страница не открывается."),
    409: _l(
        "Эта форма уже отправлена и ещё сохраняется: повторно ничего не сохранено. Обновите страницу через минуту."
    ),
    413: _l("Файл слишком большой: принимаются файлы до 12 МБ. Ничего не сохранено."),
    429: _l("Слишком много попыток. Попробуйте позже."),
    500: _l("Внутренняя ошибка. Мы уже знаем о ней; попробуйте ещё раз чуть позже."),
}


def error_page(error):
    """Error pages in the user's language, inside the app's layout (Werkzeug's are English)."""
    from werkzeug.exceptions import HTTPException

    code = error.code if isinstance(error, HTTPException) else 500
    if request.path.startswith("/api/"):
        body = {"message": str(ERROR_MESSAGES.get(code, error))}
        if code == 429 and getattr(error, "description", None):
            body["message"] = str(error.description)
        if code == 500:
            body["request_id"] = headers.request_id()
        return jsonify(body), code
    message = ERROR_MESSAGES.get(code) or getattr(error, "description", "")
    if code == 429 and getattr(error, "description", None):
        message = error.description
    appbuilder = current_app.appbuilder
    return (
        render_template(
            "kartoteka/error.html",
            code=code,
            message=message,
            appbuilder=appbuilder,
            base_template=appbuilder.base_template,
        ),
        code,
    )


def idle_text() -> str:
    """«30 минут»: the idle timeout as Babel says a duration in the page's language."""
    from flask_babel import format_timedelta

    return format_timedelta(current_app.permanent_session_lifetime)


def session_ended():
    """401: the request needs a session that ended; the form's content was not saved."""
    from flask_babel import gettext

    message = gettext(
        "Сеанс завершён, и форма не сохранена. Так бывает, если в Картотеке ничего не делать дольше, "
        "чем %(idle)s, или выйти в другой вкладке. Войдите снова и отправьте форму ещё раз.",
        idle=idle_text(),
    )
    if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json":
        return jsonify({"message": message}), 401
    appbuilder = current_app.appbuilder
    return (
        render_template(
            "kartoteka/error.html",
            code=401,
            message=message,
            sign_in=True,
            appbuilder=appbuilder,
            base_template=appbuilder.base_template,
        ),
        401,
    )


def domain_error_page(error):
    """A domain rule's refusal that no screen caught (a rule of the flush, such as an
    erased customer's remainder): its status and its reason, nothing saved."""
    from ..extensions import db

    db.session.rollback()
    message = " ".join(str(text) for text in error.errors.values()) if hasattr(error, "errors") else ""
    if request.path.startswith("/api/"):
        return jsonify({"message": message}), error.status_code
    appbuilder = current_app.appbuilder
    return (
        render_template(
            "kartoteka/error.html",
            code=error.status_code,
            message=message,
            appbuilder=appbuilder,
            base_template=appbuilder.base_template,
        ),
        error.status_code,
    )
