"""A readable, self-contained HTML page for one validation result (no scripts, no CDN)."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipelines.validation.results import ValidationResult

_COLOURS = {"pass": "#1a7f37", "warn": "#9a6700", "block": "#cf222e"}


def render_html(result: ValidationResult) -> str:
    """Verdict, counts by severity, then every check (failures first)."""
    colour = _COLOURS.get(result.status, "#555")
    counts = "".join(
        f"<tr><td>{escape(sev)}</td><td>{c['passed']}</td><td>{c['failed']}</td></tr>"
        for sev, c in sorted(result.counts().items())
    )
    rows = "".join(
        "<tr class='{cls}'><td>{ok}</td><td>{sev}</td><td>{code}</td><td>{col}</td>"
        "<td>{desc}</td><td>{n}</td><td>{detail}</td><td>{engine}</td></tr>".format(
            cls="fail" if not c.success else "",
            ok="&#10007;" if not c.success else "&#10003;",
            sev=escape(c.severity),
            code=escape(c.code),
            col=escape(c.column or ""),
            desc=escape(c.description),
            n="" if c.unexpected_count is None else c.unexpected_count,
            detail=escape(c.detail),
            engine=escape(c.engine),
        )
        for c in sorted(result.checks, key=lambda c: (c.success, c.severity != "block"))
    )
    where = result.quarantine_uri or result.published_uri
    accepted = f"<p>Accepted by {escape(result.accepted_by)}.</p>" if result.accepted_by else ""
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Validation {escape(result.dataset)} {result.day}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ddd;padding:4px 8px;text-align:left}}tr.fail{{background:#fff1f0}}
.status{{color:{colour};font-weight:bold;text-transform:uppercase}}</style></head><body>
<h1>{escape(result.model)}: {escape(result.dataset)} on {result.day}</h1>
<p class="status">{escape(result.status)}</p>{accepted}
<p>{result.rows} rows, {result.rows_dropped} dropped to quarantine. Source
<code>{escape(result.source_uri)}</code> (sha256 {escape(result.sha256[:16])}&hellip;),
now at <code>{escape(where)}</code>. Validated {escape(result.validated_at)}.</p>
<h2>Checks by severity</h2><table><tr><th>severity</th><th>passed</th><th>failed</th></tr>
{counts}</table>
<h2>Checks</h2><table><tr><th></th><th>severity</th><th>code</th><th>column</th>
<th>expectation</th><th>failing rows</th><th>detail</th><th>engine</th></tr>{rows}</table>
</body></html>
"""
