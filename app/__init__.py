"""Kartoteka: the application factory."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from flask import Flask
from flask_appbuilder import AppBuilder
from flask_babel import get_locale

from .admin import errorpages, listing, lookups, rendering
from .extensions import db, migrate
from .worker import start_embedded_worker  # noqa: F401  (run.py starts it without Redis)

log = logging.getLogger(__name__)


def compile_translations(directory: str) -> None:
    """Compile every messages.po under ``directory`` whose .mo is missing or stale."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po_path in Path(directory).glob("*/LC_MESSAGES/messages.po"):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as f:
            catalog = read_po(f, locale=po_path.parent.parent.name)
        # written aside and renamed: two processes starting at once (the test suites
        # run side by side, gunicorn's workers) never read a half-written catalog
        partial = mo_path.with_name(f"{mo_path.name}.{os.getpid()}")
        with partial.open("wb") as f:
            write_mo(f, catalog, use_fuzzy=False)
        os.replace(partial, mo_path)


class Application(Flask):
    """Flask, remembering which of its functions are synchronous: it asks inspect for
    every request handler on every request (~70 Python calls a request)."""

    def ensure_sync(self, func):
        known = self.__dict__.setdefault("_kartoteka_sync", {})
        try:
            return known[func]
        except KeyError:
            if len(known) >= 1024:  # per-request closures (after_this_request) come and go
                known.clear()
            result = known[func] = super().ensure_sync(func)
        except TypeError:  # an unhashable callable
            return super().ensure_sync(func)
        return result


def create_app(config: object | str = "config.Config", **overrides) -> Flask:
    from config import _secret_key

    app = Application(__name__, template_folder="templates")
    app.jinja_environment = rendering.Environment
    app.config.from_object(config)
    app.config.update(overrides)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key()
    # Permissions are created by sync_roles() (flask kartoteka init), after
    # migrations; FAB must not create tables or permissions at import time.
    from .database import engine_options

    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(
        app.config["SQLALCHEMY_DATABASE_URI"], app.config.get("SQLALCHEMY_ENGINE_OPTIONS")
    )
    app.config["FAB_CREATE_DB"] = False
    app.config["FAB_UPDATE_PERMS"] = False
    Path(app.config["INSTANCE_DIR"]).mkdir(parents=True, exist_ok=True)
    compile_translations(app.config["BABEL_TRANSLATION_DIRECTORIES"])

    from . import audit, database, formatting, notifications, records, transactions  # noqa: F401

    records.install()
    audit.install()
    from . import subjects

    subjects.install()
    rendering.install_babel_context()
    notifications.install()

    app.jinja_env.filters.update(formatting.FILTERS)
    app.jinja_env.globals["kartoteka_navbar"] = rendering.navbar
    app.jinja_env.globals["kartoteka_fragment"] = rendering.fragment
    app.jinja_env.globals["kartoteka_refusal"] = rendering.refusal
    app.jinja_env.globals["kartoteka_widget_locale"] = rendering.widget_locale
    app.jinja_env.globals["kartoteka_session_watch"] = rendering.session_watch
    app.jinja_env.globals["kartoteka_idle_text"] = errorpages.idle_text
    app.jinja_env.globals["kartoteka_locale"] = lambda: str(get_locale())
    app.jinja_env.globals["kartoteka_list_url"] = listing.list_url
    app.jinja_env.globals["kartoteka_customer_search"] = listing.customer_search
    app.jinja_env.globals["kartoteka_customer_search_words"] = lookups.customer_search

    with app.app_context():
        db.init_app(app)
        migrate.init_app(app, db, directory=str(Path(__file__).parent.parent / "migrations"))
        appbuilder = AppBuilder(update_perms=False, base_template="kartoteka/shell.html")
        appbuilder.init_app(app, db.session)
        rendering.install_list_links(app, appbuilder.template_filters)
        rendering.install_template_gettext(app)
        rendering.install_babel_selectors(app)
        from .admin.errorpages import ERROR_MESSAGES, domain_error_page, error_page
        from .admin.openapi import KartotekaOpenApi
        from .admin.registry import register_views
        from .admin.requests import clean_list_args, reject_malformed_urls
        from .api import APIS
        from .views import MENU, WITHOUT_MENU

        register_views(appbuilder, MENU, WITHOUT_MENU)
        for api in (*APIS, KartotekaOpenApi):
            appbuilder.add_api(api)
        transactions.install(app)
        app.before_request(reject_malformed_urls)
        app.before_request(clean_list_args)
        for code in ERROR_MESSAGES:
            app.register_error_handler(code, error_page)
        from .errors import DomainError

        app.register_error_handler(DomainError, domain_error_page)
        from .admin import headers, journal, submissions
        from .admin.security import harden

        journal.install(app)

        harden(app)
        headers.install(app)
        submissions.install(app)  # after the CSRF check (harden): a forged form claims nothing

    from .cli import register_cli

    register_cli(app)
    return app
