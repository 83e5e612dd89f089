"""The models page as HTML: one card per model, built from ``pipelines.status`` dicts.

Plain server-side HTML (no build step, no scripts): it renders inside Airflow's UI as an
external view, and every link that leaves it opens in the top window.
"""

from __future__ import annotations

from html import escape
from typing import Any

from mlops.ui.resolve import version_url

STYLE = """
body{font-family:system-ui,sans-serif;margin:16px;color:#1a202c;background:#fff}
h1{font-size:20px;margin:0 0 12px} h2{font-size:17px;margin:0}
.card{border:1px solid #cbd5e0;border-radius:8px;padding:12px 16px;margin-bottom:16px}
.head{display:flex;justify-content:space-between;align-items:baseline;flex-wrap:wrap;gap:8px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:12px;margin-top:10px}
table{border-collapse:collapse;font-size:13px;width:100%}
th,td{text-align:left;padding:3px 8px 3px 0;border-bottom:1px solid #edf2f7;vertical-align:top}
th{color:#4a5568;font-weight:600} .muted{color:#718096;font-size:12px}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600}
.ok{background:#c6f6d5;color:#22543d} .warn{background:#fefcbf;color:#744210}
.bad{background:#fed7d7;color:#822727} .none{background:#edf2f7;color:#4a5568}
a{color:#2b6cb0} .actions a{margin-left:10px;font-size:13px}
.bar{height:10px;background:#edf2f7;border-radius:5px;overflow:hidden;margin:4px 0}
.bar span{display:block;height:100%;background:#3182ce}
"""

GOOD = {"pass", "passed", "ok", "warn_only", "no drift", "retrain: no", "champion"}
BAD = {"block", "fail", "drift", "retrain"}


def badge(text: str) -> str:
    tone = "ok" if text in GOOD else "bad" if text in BAD else "warn" if text else "none"
    return f'<span class="badge {tone}">{escape(text or "none")}</span>'


def link(href: str, text: str) -> str:
    return f'<a href="{escape(href)}" target="_top">{escape(text)}</a>'


def models_page(models: list[dict[str, Any]], urls: dict[str, str]) -> str:
    """The page; ``urls`` has ``airflow`` (UI root), ``app`` (this plugin) and ``mlflow``."""
    cards = "".join(_card(m, urls) for m in models) or "<p>No model specs found.</p>"
    mlflow = f" · {link(urls['mlflow'], 'MLflow UI')}" if urls.get("mlflow") else ""
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>MLOps models</title>"
        f"<style>{STYLE}</style></head><body>"
        f"<h1>Models <span class='muted'>({len(models)}){mlflow}</span></h1>{cards}"
        "</body></html>"
    )


def _card(model: dict[str, Any], urls: dict[str, str]) -> str:
    name = model["model"]
    if model.get("error"):
        return (
            f"<div class='card'><h2>{escape(name)}</h2>"
            f"<p>{badge('unavailable')} {escape(model['error'])}</p></div>"
        )
    dags = urls["airflow"] + "/dags/"
    actions = [
        link(f"{dags}{name}__training", "Retrain…"),
        link(f"{dags}{name}__promotion", "Promote / advance…"),
        link(f"{dags}mlops__rollback", "Rollback…"),
        link(f"{dags}mlops__quarantine_review", "Quarantine review…"),
    ]
    return (
        "<div class='card'><div class='head'>"
        f"<h2>{escape(name)} <span class='muted'>owner {escape(model['owner'])} · "
        f"strategy {escape(model['strategy'])}</span></h2>"
        f"<div class='actions'>{''.join(actions)}</div></div>"
        "<div class='grid'>"
        f"{_versions(model, urls)}{_validation(model, urls)}{_drift(model, urls)}"
        f"{_gate(model)}</div>{_history(model)}</div>"
    )


def _version_link(model: str, version: str, urls: dict[str, str]) -> str:
    if not urls.get("mlflow"):
        return escape(f"v{version}")
    return link(version_url(urls["mlflow"], model, version), f"v{version}")


def _versions(model: dict[str, Any], urls: dict[str, str]) -> str:
    rows = "".join(
        f"<tr><td>{badge(v['alias'])}</td><td>{_version_link(model['model'], v['version'], urls)}"
        f"</td><td>{escape(v['trained_for'])}</td><td>{escape(v['metric'])} "
        f"{escape(v['value'])}</td></tr>"
        for v in model["versions"]
    )
    share = float(model["share"] or 0)
    steps = model["steps"]
    rollout = (
        f"challenger share {share:.0%}"
        + (f", step {model['step'] + 1} of {len(steps)} ({steps})" if model["step"] >= 0 else "")
        if share or model["step"] >= 0
        else "no rollout: the champion serves every row"
    )
    return (
        "<div><h3>Versions</h3><table><tr><th>alias</th><th>version</th><th>trained for</th>"
        f"<th>holdout</th></tr>{rows or '<tr><td colspan=4>none registered</td></tr>'}</table>"
        f"<div class='bar'><span style='width:{share * 100:.0f}%'></span></div>"
        f"<div class='muted'>{escape(rollout)}</div></div>"
    )


def _report_link(path: str | None, urls: dict[str, str], text: str) -> str:
    return link(f"{urls['app']}/lake/{path}", text) if path else ""


def _validation(model: dict[str, Any], urls: dict[str, str]) -> str:
    last = model.get("last_validation")
    if not last:
        return "<div><h3>Last validation</h3><p class='muted'>none yet</p></div>"
    failed = ", ".join(f"{n} {sev}" for sev, n in last["failed_checks"].items() if n) or "none"
    return (
        f"<div><h3>Last validation</h3><p>{escape(last['date'])} {badge(last['status'])}</p>"
        f"<table><tr><th>rows</th><td>{last['rows']} ({last['rows_dropped']} dropped)</td></tr>"
        f"<tr><th>failed checks</th><td>{escape(failed)}</td></tr></table>"
        f"{_report_link(last['report'], urls, 'validation report')}</div>"
    )


def _drift(model: dict[str, Any], urls: dict[str, str]) -> str:
    last, retrain = model.get("last_drift"), model.get("last_retrain")
    if not last:
        return "<div><h3>Last drift check</h3><p class='muted'>none yet</p></div>"
    drifted = last.get("drifted_columns") or []
    verdict = "drift" if drifted or last.get("prediction_drift") else "no drift"
    decision = "none"
    if retrain:
        decision = "retrain" if retrain.get("retrain") else "retrain: no"
    return (
        f"<div><h3>Last drift check</h3><p>{escape(last['date'])} {badge(verdict)} "
        f"v{escape(str(last.get('version', '')))}</p><table>"
        f"<tr><th>drifted columns</th><td>{escape(', '.join(drifted) or 'none')} "
        f"({float(last.get('drifted_share', 0)):.0%})</td></tr>"
        f"<tr><th>prediction drift</th><td>{escape(str(last.get('prediction_drift') or 'none'))}"
        f"</td></tr><tr><th>labels</th><td>{escape(str(last.get('labels', '')))}</td></tr>"
        f"<tr><th>retrain</th><td>{badge(decision)} "
        f"{escape(', '.join((retrain or {}).get('triggers', [])))}</td></tr></table>"
        f"{_report_link(last['report'], urls, 'drift report')}</div>"
    )


def _gate(model: dict[str, Any]) -> str:
    gate = model.get("last_gate")
    if not gate:
        return "<div><h3>Last gate decision</h3><p class='muted'>no version yet</p></div>"
    against = f" vs champion {gate['champion_value']}" if gate["champion_value"] else ""
    return (
        f"<div><h3>Last gate decision</h3><p>v{escape(gate['version'])} "
        f"{badge(gate['decision'])}</p><table>"
        f"<tr><th>trained for</th><td>{escape(gate['trained_for'])}</td></tr>"
        f"<tr><th>{escape(gate['metric'])}</th><td>{escape(gate['value'])}{escape(against)}"
        f"</td></tr><tr><th>reasons</th><td>{escape(gate['reasons'])}</td></tr></table></div>"
    )


def _history(model: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{r['seq']}</td><td>{escape(str(r['at'])[:16])}</td><td>{badge(r['action'])}</td>"
        f"<td>v{escape(str(r['champion']))}</td><td>{escape(str(r['challenger'] or '-'))}</td>"
        f"<td>{float(r['share'] or 0):.0%}</td><td>{escape(str(r['by']))}</td>"
        f"<td>{escape(str(r['why']))}</td></tr>"
        for r in model["history"]
    )
    if not rows:
        return "<h3>Promotion history</h3><p class='muted'>nothing recorded yet</p>"
    return (
        "<h3>Promotion history</h3><table><tr><th>#</th><th>at</th><th>action</th>"
        "<th>champion</th><th>challenger</th><th>share</th><th>by</th><th>why</th></tr>"
        f"{rows}</table>"
    )


def message_page(title: str, text: str) -> str:
    """A short page for a link with nowhere to go (and why)."""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>"
        f"<p>{escape(text)}</p></body></html>"
    )
