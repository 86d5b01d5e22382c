"""«Очередь уведомлений»: per channel, what waits, fails and expired; the administrator pauses and resumes a channel."""

from __future__ import annotations

from flask import (
    abort,
    flash,
    redirect,
    url_for,
)
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import format_timedelta
from flask_babel import gettext as _

from .. import (
    access,
    formatting,
    models,
    notifications,
)
from ..extensions import db


class NotificationQueueView(BaseView):
    """«Очередь уведомлений»: per channel, what waits, fails and expired; pause and resume."""

    route_base = "/notificationqueue"
    class_permission_name = access.QUEUE
    method_permission_name = access.METHOD_PERMISSIONS
    default_view = "list"

    # Which messages list each count opens (filtered by channel and status).
    STATUS_OF = {
        "waiting": "queued",
        "failing": "queued",
        "scheduled": "queued",
        "sending": "sending",
        "overdue": "expired",
        "failed": "failed",
    }

    @expose("/")
    @has_access
    def list(self):
        from ..worker import health

        report = health()
        rows = []
        for channel in models.Channel:
            state = report["channels"][channel.value]
            oldest = state["oldest_waiting_seconds"]
            rows.append(
                {
                    "channel": channel,
                    "state": state,
                    "paused_at": formatting.datetime_short(state["paused_at"]) if state["paused_at"] else "",
                    "oldest": format_timedelta(oldest) if oldest is not None else None,
                    "links": {
                        key: url_for("MessageView.list", _flt_0_channel=channel.value, _flt_0_status=status)
                        for key, status in self.STATUS_OF.items()
                    },
                }
            )
        return self.render_template(
            "kartoteka/notification_queue.html",
            title=_("Очередь уведомлений"),
            report=report,
            rows=rows,
            problems=[self.problem_text(p["code"], report) for p in report["problems"]],
            redis_line=self.redis_line(report["redis"]),
            sweep_line=(
                _(
                    "Диспетчер очереди последний раз обходил её %(when)s (%(ago)s назад).",
                    when=formatting.datetime_short(report["last_sweep"]),
                    ago=format_timedelta(report["last_sweep_seconds"]),
                )
                if report["last_sweep"]
                else _("Диспетчер очереди ещё не запускался.")
            ),
            may_pause=self.appbuilder.sm.has_access("can_write", access.QUEUE),
            may_read_messages=self.appbuilder.sm.has_access("can_read", access.MESSAGES),
        )

    @staticmethod
    def problem_text(code: str, report: dict) -> str:
        if code == "redis":
            return _("Redis недоступен: сообщения ждут в базе и уйдут, когда он вернётся.")
        if code == "no_workers":
            return _("Ни один обработчик не подключён к Redis: сообщения никто не отправляет.")
        if code == "sweeper" and not report["last_sweep"]:
            # «не обходил дольше трёх интервалов» beside «ещё не запускался» read as two faults
            return _("Диспетчер очереди ни разу не запускался: сообщения ждут, их сроки идут.")
        if code == "sweeper":
            return _("Диспетчер очереди не обходил её дольше трёх своих интервалов: он остановлен?")
        return _(
            "Сообщение ждёт отправки уже %(age)s.", age=format_timedelta(report["oldest_waiting_seconds"])
        )

    @staticmethod
    def redis_line(redis: dict) -> str:
        from ..worker import embedded_running

        if redis.get("embedded") and not embedded_running():
            return _(
                "Встроенная очередь без Redis, но поток, который её отправляет, не запущен (его запускает "
                "run.py): сообщения никто не отправляет. Задайте REDIS_URL и запустите обработчики "
                "(flask worker) и диспетчер (flask kartoteka sweeper)."
            )
        if redis.get("embedded"):
            return _("Встроенная очередь без Redis: сообщения отправляет поток веб-приложения.")
        if not redis["ok"]:
            return _("Redis недоступен.")
        return _(
            "Redis доступен: заданий в очереди %(jobs)s, обработчиков подключено %(workers)s.",
            jobs=redis["jobs_queued"],
            workers=redis["workers"],
        )

    def _channel(self, value):
        try:
            return models.Channel(value)
        except ValueError:
            abort(404)

    @expose("/<channel>/pause", methods=["POST"])
    @has_access
    def pause(self, channel):
        channel = self._channel(channel)
        notifications.pause_channel(db.session, channel)
        db.session.commit()
        flash(
            _("Канал «%(channel)s» приостановлен: сообщения ждут в очереди.", channel=channel.label),
            "warning",
        )
        return redirect(url_for(".list"))

    @expose("/<channel>/resume", methods=["POST"])
    @has_access
    def resume(self, channel):
        channel = self._channel(channel)
        notifications.resume_channel(db.session, channel)
        db.session.commit()
        flash(_("Канал «%(channel)s» снова работает.", channel=channel.label), "success")
        return redirect(url_for(".list"))
