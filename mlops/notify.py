"""Alerts: a task failed, a batch was quarantined, a model was rolled back or a rollout aborted.

Where they go is configuration, not code:

- a webhook when the Airflow connection ``mlops_alerts_webhook`` exists (its host is the full
  URL; JSON ``{"text", "event", "facts"}`` is POSTed, which Slack, Teams and Mattermost
  incoming webhooks accept);
- e-mail through the SMTP provider when the Variable ``mlops_alert_emails`` lists addresses
  (connection ``smtp_default``);
- the task log always (``WARNING mlops alert: ...``), so an alert is never lost silently.

Sending is best effort: a broken webhook is logged and never fails the task it reports on.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Mapping
from typing import Any

from airflow.sdk import BaseNotifier, Context

log = logging.getLogger(__name__)
WEBHOOK_CONN_ID = "mlops_alerts_webhook"
EMAILS_VARIABLE = "mlops_alert_emails"
TIMEOUT_S = 10


def send(event: str, text: str, facts: dict[str, Any] | None = None) -> list[str]:
    """Deliver one alert everywhere configured; returns where it went."""
    facts = facts or {}
    log.warning("mlops alert [%s]: %s %s", event, text, json.dumps(facts, default=str))
    sent = ["log"]
    url = _webhook_url()
    if url:
        body = json.dumps({"text": text, "event": event, "facts": facts}, default=str).encode()
        request = urllib.request.Request(  # noqa: S310 - the URL is the operator's connection
            url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S):  # noqa: S310
                sent.append("webhook")
        except OSError as exc:
            log.error("mlops alert webhook %s failed: %s", url, exc)
    emails = _emails()
    if emails:
        try:
            _send_email(emails, f"[mlops] {event}: {text[:120]}", text, facts)
            sent.append("email")
        except Exception as exc:  # SMTP trouble must not fail the task
            log.error("mlops alert e-mail to %s failed: %s", emails, exc)
    return sent


def _webhook_url() -> str:
    from airflow.sdk import Connection

    try:
        conn = Connection.get(WEBHOOK_CONN_ID)
    except Exception:  # not configured
        return ""
    host = conn.host or ""
    if host and "://" not in host:
        scheme = conn.schema or "https"
        port = f":{conn.port}" if conn.port else ""
        host = f"{scheme}://{host}{port}"
    return host


def _emails() -> list[str]:
    from airflow.sdk import Variable

    raw = Variable.get(EMAILS_VARIABLE, default="") or ""
    return [address.strip() for address in raw.split(",") if address.strip()]


def _send_email(to: list[str], subject: str, text: str, facts: dict[str, Any]) -> None:
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    body = f"<p>{text}</p><pre>{json.dumps(facts, indent=2, default=str)}</pre>"
    with SmtpHook(smtp_conn_id="smtp_default") as hook:
        hook.send_email_smtp(to=to, subject=subject, html_content=body)


def task_facts(context: Mapping[str, Any]) -> dict[str, Any]:
    ti = context.get("ti")
    return {
        "dag_id": getattr(ti, "dag_id", ""),
        "task_id": getattr(ti, "task_id", ""),
        "run_id": getattr(ti, "run_id", ""),
        "try_number": getattr(ti, "try_number", ""),
    }


class FailureNotifier(BaseNotifier):
    """``on_failure_callback`` of every project task: say which task failed and why."""

    def notify(self, context: Context) -> None:
        facts = task_facts(context)
        error = context.get("exception")
        text = f"{facts['dag_id']}.{facts['task_id']} failed in {facts['run_id']}: {error}"
        send("task_failed", text, {**facts, "error": str(error)})
