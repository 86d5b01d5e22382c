"""The token API (FAB's /api/v1/security/login and /refresh), under the same policy as the form.

Off unless ``KARTOTEKA_TOKEN_API`` is set: a clinic that does not integrate
another system needs no tokens, and its staff use the API from their signed-in
browser session as before. FAB registers these routes whenever its security
views are on (``FAB_ADD_SECURITY_API = False`` does not remove them), so while
the setting is off they answer 404, and no bearer token is accepted.

When on, a login goes through the same door as the form (app/logins.py: the
same counts and waits, the same account checks), and a token is a session
(app/sessions.py, kind «token»): it carries the session's id, lives while its
row does, and its row slides with KARTOTEKA_IDLE_MINUTES as a browser's. So a
token stops working after the idle timeout, at «Завершить все сеансы», when the
user's password changes or the user is deactivated. The access token itself
expires after the idle timeout too; the refresh token after
KARTOTEKA_TOKEN_REFRESH_HOURS (12) at most, and only while its session lives.
"""

from __future__ import annotations

import datetime as dt

from flask import Flask, abort, current_app, jsonify, request
from flask_appbuilder.api import expose
from flask_appbuilder.const import API_SECURITY_ACCESS_TOKEN_KEY, API_SECURITY_REFRESH_TOKEN_KEY
from flask_appbuilder.security.api import SecurityApi
from flask_appbuilder.security.schemas import login_post
from flask_babel import gettext as _
from flask_jwt_extended import create_access_token, create_refresh_token, get_jwt, jwt_required
from marshmallow import ValidationError

from ..logins import TooManyAttempts
from . import sessions

SID = "ksid"  # the claim that names the token's session


def enabled() -> bool:
    return bool(current_app.config.get("KARTOTEKA_TOKEN_API"))


class KartotekaSecurityApi(SecurityApi):
    """FAB's login and refresh, with the form's limits and a session behind each token."""

    def response_401(self):
        return self.response(401, message=_("Неверное имя пользователя или пароль."))

    def _refuse(self, error: TooManyAttempts):
        response = self.response(429, message=error.description)
        response.headers["Retry-After"] = str(error.retry_after)
        return response

    @expose("/login", methods=["POST"])
    def login(self):
        if not enabled():
            abort(404)
        if not request.is_json:
            return self.response_400(message=_("Ожидается JSON: username, password, provider."))
        try:
            payload = login_post.load(request.json)
        except ValidationError:
            return self.response_400(message=_("Ожидается JSON: username, password, provider."))
        sm = self.appbuilder.sm
        check = sm.auth_user_db if payload["provider"] == "db" else sm.auth_user_ldap
        try:
            user = check(payload["username"], payload["password"])
        except TooManyAttempts as error:
            return self._refuse(error)
        if not user:
            return self.response_401()
        sid = sessions.open_token_session(user.id)
        result = {API_SECURITY_ACCESS_TOKEN_KEY: self._access_token(user.id, sid, fresh=True)}
        if payload.get("refresh"):
            result[API_SECURITY_REFRESH_TOKEN_KEY] = create_refresh_token(
                identity=str(user.id), additional_claims={SID: sid}
            )
        return self.response(200, **result)

    @expose("/refresh", methods=["POST"])
    def refresh(self):
        if not enabled():
            abort(404)
        return self._refresh()

    @jwt_required(refresh=True)
    def _refresh(self):
        claims = get_jwt()
        return self.response(
            200,
            **{API_SECURITY_ACCESS_TOKEN_KEY: self._access_token(claims["sub"], claims[SID], fresh=False)},
        )

    @staticmethod
    def _access_token(user_id, sid: str, fresh: bool) -> str:
        return create_access_token(identity=str(user_id), fresh=fresh, additional_claims={SID: sid})


def _message(text):
    return lambda *args: (jsonify(message=text()), 401)


def install(app: Flask, jwt_manager) -> None:
    idle = dt.timedelta(minutes=int(app.config.get("KARTOTEKA_IDLE_MINUTES", 30)))
    app.config["JWT_ACCESS_TOKEN_EXPIRES"] = idle
    app.config["JWT_REFRESH_TOKEN_EXPIRES"] = dt.timedelta(
        hours=int(app.config.get("KARTOTEKA_TOKEN_REFRESH_HOURS", 12))
    )

    @jwt_manager.token_in_blocklist_loader
    def token_revoked(_header, claims) -> bool:
        return not enabled() or not sessions.token_session_alive(claims.get(SID), claims.get("sub"))

    jwt_manager.unauthorized_loader(lambda reason: (jsonify(message=_("Войдите в систему.")), 401))
    jwt_manager.expired_token_loader(_message(lambda: _("Срок действия токена истёк: войдите снова.")))
    jwt_manager.revoked_token_loader(_message(lambda: _("Токен больше не действует: войдите снова.")))
    jwt_manager.invalid_token_loader(lambda reason: (jsonify(message=_("Токен не распознан.")), 401))
    jwt_manager.user_lookup_error_loader(_message(lambda: _("Токен больше не действует: войдите снова.")))
    jwt_manager.needs_fresh_token_loader(_message(lambda: _("Нужен новый вход.")))
