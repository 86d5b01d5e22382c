"""Sessions kept on the server (Flask-Session), so that they can be ended.

A signed cookie-only session could not be taken back: a copy of the cookie kept
working after logout for as long as it was used. Flask-Session keeps the session
in the database (the table ``user_session``, made by migration 0014) and the
cookie holds only its random id; Kartoteka's columns say whose it is, since
when, from where and in which browser (the session lists).

The session ends, on every web worker at its next request, when its row goes:
- logout (the row is deleted, so a copied cookie names nothing);
- the idle timeout (``expiry`` slides with activity, KARTOTEKA_IDLE_MINUTES);
- the user's password is changed (their other sessions; all of them when an
  administrator sets it), the user is deactivated or deleted, or they or the
  administrator choose «Завершить все сеансы».
An API token (app/tokens.py) is a session too, of kind ``token``: the same
events end it.

Sessions stay in the database whatever the deployment, Redis configured or
not: the lists and «end all» are then one indexed query, and DESIGN.md keeps
nothing personal (addresses, browsers) in Redis. A request reads its session by
its primary key: one statement.

The pages the user went through (FAB's ``page_history``: where a save and
«Назад» return) are not written to the row: they change on almost every page,
and each change was a write transaction (on PostgreSQL a flush to disk) for
what only this browser needs. They travel in a cookie of their own, signed and
bound to the session's id (another session, a login or a logout drops them),
and the row is written only when what it stores changed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import time

from flask import Flask, current_app, g, has_request_context, request, session
from flask.sessions import session_json_serializer
from flask_appbuilder.security.sqla.models import User
from flask_babel import gettext as _
from flask_login import user_logged_in, user_logged_out
from flask_session.base import Serializer, ServerSideSessionInterface
from flask_session.sqlalchemy import SqlAlchemySessionInterface
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import bindparam, delete, event, inspect, select, text, update

from .. import transactions
from ..extensions import db
from ..models import UserSession, utcnow
from .permissions import permissions_of

BROWSER, TOKEN = "browser", "token"
HISTORY = "page_history"  # FAB's key
HISTORY_COOKIE = "kartoteka_pages"
HISTORY_COOKIE_LIMIT = 3800  # bytes: a browser keeps a cookie of up to 4 KB


class TaggedSerializer(Serializer):
    """The session's values as Flask's cookie session wrote them (its tagged JSON):
    a flashed message may be Markup (a link to the existing card) or a lazy text,
    which msgpack, Flask-Session's default, cannot hold."""

    def encode(self, session) -> bytes:
        # the page history goes to its own cookie (KartotekaSessionInterface)
        return session_json_serializer.dumps({k: v for k, v in session.items() if k != HISTORY}).encode()

    def decode(self, serialized_data: bytes) -> dict:
        return session_json_serializer.loads(serialized_data.decode())


class KartotekaSessionInterface(SqlAlchemySessionInterface):
    """Flask-Session's SQLAlchemy interface on Kartoteka's own model.

    Flask-Session builds a model of its own at start and creates its table
    outside the migrations; here the table is the migrated ``user_session`` and
    its rows also say who, when, where. The reads and writes are the library's,
    in Core statements (its model queries through Flask-SQLAlchemy's
    ``Model.query``, which FAB's models do not have)."""

    def __init__(self, app: Flask):
        self.app = app
        self.client = db
        self.sql_session_model = UserSession
        ServerSideSessionInterface.__init__(
            self,
            app,
            key_prefix="",
            use_signer=False,
            permanent=True,
            sid_length=32,
            serialization_format="msgpack",
            cleanup_n_requests=None,  # `flask session_cleanup`; a login also clears expired rows
        )
        self.serializer = TaggedSerializer()

    def _retrieve_session_data(self, store_id: str):
        # One statement, composed once: the session's row, its user and the user's
        # permissions (a second round trip for the user was a fifth of a list's
        # statements). The user waits in the request's g for Flask-Login's
        # load_user (KartotekaSecurityManager.load_user), which takes it only for
        # the id the session names.
        row = db.session.execute(_SESSION_ROW, {"sid": store_id}).first()
        if row is None or row.expiry is None or row.expiry <= utcnow():
            return None  # an expired row is deleted by the next login's clean-up
        if row.User is not None:
            g._kartoteka_session_user = (row.User.id, row.User, row.permissions)
        g._kartoteka_session_data = row.data  # save_session writes the row only if this changed
        return self.serializer.decode(row.data)

    def open_session(self, app: Flask, request):
        if app.static_url_path and request.path.startswith(app.static_url_path + "/"):
            # A stylesheet, a script or an icon (a page asks for about 20, and a
            # browser revalidates each): no session is read or written for them.
            session = self.session_class(sid=self._generate_sid(self.sid_length), permanent=self.permanent)
            session.kartoteka_history = []
            session.kartoteka_static = True  # never saved: see save_session
            return session
        session = super().open_session(app, request)
        history = self._read_history(app, request, session.sid)
        if history:
            dict.__setitem__(session, HISTORY, history)  # not a change of the session
        session.kartoteka_history = list(history or ())  # a copy: FAB's Stack appends in place
        return session

    def save_session(self, app: Flask, session, response) -> None:
        if getattr(session, "kartoteka_static", False):
            # A static file's request holds a blank stand-in, not the browser's
            # session: a missing file's error page flashes or sets the locale, and
            # saving that would send a new cookie in place of the signed-in one.
            return
        self._write_history(app, session, response)
        stored = g.pop("_kartoteka_session_data", None)
        if session.modified and session and self.serializer.encode(session) == (stored or b"{}"):
            # only the page history changed (it went to its cookie), or a visitor's
            # session holds nothing else: the row is not written
            session.modified = False
        super().save_session(app, session, response)

    def _history_serializer(self, app: Flask) -> URLSafeSerializer:
        """Made once per secret key (making one took ~40 Python calls of every page)."""
        kept = self.__dict__.get("_kartoteka_history_serializer")
        if kept is None or kept[0] != app.secret_key:
            kept = self._kartoteka_history_serializer = (
                app.secret_key,
                URLSafeSerializer(app.secret_key, salt="kartoteka.page-history"),
            )
        return kept[1]

    @staticmethod
    def _bound_to(sid: str) -> str:
        return hashlib.sha256(sid.encode()).hexdigest()[:32]

    def _read_history(self, app: Flask, request, sid: str) -> list | None:
        value = request.cookies.get(HISTORY_COOKIE)
        if not value:
            return None
        try:
            bound, history = self._history_serializer(app).loads(value)
        except (BadSignature, TypeError, ValueError):
            return None
        if bound != self._bound_to(sid) or not isinstance(history, list):
            return None  # another session's pages (a login or logout since)
        return [url for url in history if isinstance(url, str)]

    def _write_history(self, app: Flask, session, response) -> None:
        history = list(session.get(HISTORY) or ()) if session and "_user_id" in session else []
        if history == getattr(session, "kartoteka_history", []):
            return
        cookie = {
            "domain": self.get_cookie_domain(app),
            "path": self.get_cookie_path(app),
            "secure": self.get_cookie_secure(app),
            "httponly": True,
            "samesite": self.get_cookie_samesite(app),
        }
        response.vary.add("Cookie")
        if not history:
            response.delete_cookie(HISTORY_COOKIE, **cookie)
            return
        serializer = self._history_serializer(app)
        history = list(history)
        value = serializer.dumps([self._bound_to(session.sid), history])
        while len(value) > HISTORY_COOKIE_LIMIT and len(history) > 1:
            history.pop(0)  # the oldest pages go first
            value = serializer.dumps([self._bound_to(session.sid), history])
        if len(value) > HISTORY_COOKIE_LIMIT:
            response.delete_cookie(HISTORY_COOKIE, **cookie)
            return
        response.set_cookie(HISTORY_COOKIE, value, expires=self.get_expiration_time(app, session), **cookie)

    def _delete_session(self, store_id: str) -> None:
        db.session.execute(delete(UserSession).where(UserSession.session_id == store_id))
        db.session.commit()

    def _delete_expired_sessions(self) -> None:
        db.session.execute(delete(UserSession).where(UserSession.expiry <= utcnow()))
        db.session.commit()

    def _upsert_session(self, session_lifetime, session, store_id: str) -> None:
        now = utcnow()
        values = {
            "data": self.serializer.encode(session),
            "expiry": now + session_lifetime,
            "seen_at": now,
            "user_id": _user_id(session.get("_user_id")),
        }
        transactions.end_read_only()  # the request's own transaction ends first
        if db.session.get_bind().dialect.name == "postgresql":
            # A flashed message or the idle mark need not wait for the disk (a flush
            # took 1-3 ms of every such page): a crash within a fraction of a second
            # may lose them, never a logout or an ended session (written apart).
            db.session.execute(text("SET LOCAL synchronous_commit TO off"))
        if (
            db.session.execute(
                update(UserSession).where(UserSession.session_id == store_id).values(**values)
            ).rowcount
            == 0
        ):
            db.session.add(UserSession(session_id=store_id, kind=BROWSER, **_client(), **values))
        db.session.commit()


_SESSION_ROW = (
    select(
        UserSession.data,
        UserSession.expiry,
        User,
        permissions_of(
            select(UserSession.user_id).where(UserSession.session_id == bindparam("sid")).scalar_subquery()
        ).label("permissions"),
    )
    .select_from(UserSession)
    .outerjoin(User, User.id == UserSession.user_id)
    .where(UserSession.session_id == bindparam("sid"))
    .execution_options(populate_existing=True)
)


def session_user(user_id: int):
    """(user, packed permissions) that this request's session row brought for
    ``user_id``, once; None when it brought no such user."""
    if not has_request_context():
        return None
    found = g.__dict__.pop("_kartoteka_session_user", None)
    if found is None or found[0] != user_id:
        return None
    return found[1], found[2]


def _user_id(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _client() -> dict:
    if not has_request_context():
        return {}
    return {"ip": request.remote_addr, "user_agent": (request.user_agent.string or "")[:300]}


def end_sessions(user_id: int, keep: str | None = None, connection=None) -> int:
    """End every session (and API token) of the user, but ``keep`` (a session id)."""
    statement = delete(UserSession).where(UserSession.user_id == user_id)
    if keep:
        statement = statement.where(UserSession.session_id != keep)
    if connection is not None:
        return connection.execute(statement).rowcount
    result = db.session.execute(statement)
    db.session.commit()
    return result.rowcount


def end_session(row_ids, user_id: int | None = None) -> int:
    """End the sessions with these row ids (of ``user_id`` only, when given)."""
    statement = delete(UserSession).where(UserSession.id.in_(list(row_ids)))
    if user_id is not None:
        statement = statement.where(UserSession.user_id == user_id)
    result = db.session.execute(statement)
    db.session.commit()
    return result.rowcount


def current_session_id() -> str | None:
    return getattr(session, "sid", None) if has_request_context() else None


def sessions_of(user_id: int) -> list[UserSession]:
    """The user's open sessions, the latest first."""
    return list(
        db.session.execute(
            select(UserSession)
            .where(UserSession.user_id == user_id, UserSession.expiry > utcnow())
            .order_by(UserSession.seen_at.desc())
        ).scalars()
    )


def open_token_session(user_id: int) -> str:
    """A session row for an API token (it carries the row's id): the token lives
    while the row does, and the row slides with the idle timeout as a browser's."""
    sid = "token-" + secrets.token_urlsafe(32)
    now = utcnow()
    db.session.add(
        UserSession(
            session_id=sid,
            kind=TOKEN,
            data=b"{}",
            expiry=now + current_app.permanent_session_lifetime,
            user_id=user_id,
            created_at=now,
            seen_at=now,
            **_client(),
        )
    )
    db.session.commit()
    return sid


SEEN_STEP = dt.timedelta(seconds=30)


def token_session_alive(sid: str | None, user_id) -> bool:
    """Is the token's session open (not logged out everywhere, not idle too long,
    the user's password unchanged and the user active)? Slides its expiry."""
    if not sid or not str(sid).startswith("token-"):
        return False
    row = db.session.execute(
        select(UserSession.id, UserSession.expiry, UserSession.seen_at).where(
            UserSession.session_id == sid, UserSession.user_id == _user_id(user_id)
        )
    ).first()
    now = utcnow()
    if row is None or row.expiry is None or row.expiry <= now:
        return False
    if now - row.seen_at >= SEEN_STEP:
        db.session.execute(
            update(UserSession)
            .where(UserSession.id == row.id)
            .values(seen_at=now, expiry=now + current_app.permanent_session_lifetime)
        )
        db.session.commit()
    return True


def browser_label(user_agent: str | None) -> str:
    """«Chrome 120, Linux» from a User-Agent header, for the session lists."""
    from werkzeug.user_agent import UserAgent

    if not user_agent:
        return _("Неизвестный браузер")
    text = user_agent
    for name, token in (
        ("Edge", "Edg/"),
        ("Opera", "OPR/"),
        ("Firefox", "Firefox/"),
        ("Chrome", "Chrome/"),
        ("Safari", "Safari/"),
    ):
        if token in text:
            version = text.split(token, 1)[1].split(" ", 1)[0].split(".", 1)[0]
            browser = f"{name} {version}"
            break
    else:
        browser = UserAgent(text).string[:40]
    for system, token in (
        ("Windows", "Windows"),
        ("Android", "Android"),
        ("iOS", "iPhone"),
        ("iOS", "iPad"),
        ("macOS", "Mac OS X"),
        ("Linux", "Linux"),
    ):
        if token in text:
            return f"{browser}, {system}"
    return browser


def _on_login(app, user, **extra) -> None:
    """A new session id at every sign-in (a session id planted before the login
    does not become a signed-in one), and expired rows cleared."""
    interface = app.session_interface
    if isinstance(interface, KartotekaSessionInterface):
        interface.regenerate(session)
        session.modified = True
        interface._delete_expired_sessions()
    session["_seen"] = int(time.time())  # the idle timer starts now, written with the login


def _on_logout(app, user, **extra) -> None:
    """Logout deletes the session's row: a copy of the cookie names nothing."""
    session.clear()


def _end_on_credential_change(db_session, flush_context, instances) -> None:
    """A password changed, or a user deactivated, in any way (profile, users
    screen, CLI): their sessions and tokens end in the same transaction. A user
    who changes their own password keeps the session they did it in."""
    current = g.get("user") if has_request_context() else None
    for obj in list(db_session.dirty):
        if not isinstance(obj, User):
            continue
        state = inspect(obj)
        password = state.attrs.password.history.has_changes()
        deactivated = state.attrs.active.history.has_changes() and not obj.active
        if not (password or deactivated):
            continue
        keep = None
        if password and not deactivated and getattr(current, "id", None) == obj.id:
            keep = current_session_id()
        end_sessions(obj.id, keep=keep, connection=db_session.connection())


def install(app: Flask) -> None:
    app.config.setdefault("SESSION_TYPE", "sqlalchemy")
    app.session_interface = KartotekaSessionInterface(app)
    user_logged_in.connect(_on_login, app)
    user_logged_out.connect(_on_logout, app)
    if not event.contains(db.session, "before_flush", _end_on_credential_change):
        event.listen(db.session, "before_flush", _end_on_credential_change)
