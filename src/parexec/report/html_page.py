"""The pages parexec writes (the demo's report, `explain`'s page): one style, and
a script that records whether every image loaded and every table has rows
(``body[data-check]``), which the report test reads in Chromium."""

from __future__ import annotations

import html

CHECK_SCRIPT = """<script>
window.addEventListener("load", () => {
  const images = [...document.images];
  const loaded = images.filter(i => i.complete && i.naturalWidth > 0).length;
  const tables = [...document.querySelectorAll("table")];
  const filled = tables.filter(t => t.querySelectorAll("tbody tr").length > 0).length;
  document.body.dataset.check = `images ${loaded}/${images.length} tables ${filled}/${tables.length}`;
});
</script>"""


def html_page(title: str, body: str) -> str:
    """A whole page: the report's style, ``body``, and the load check (CHECK_SCRIPT)."""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>"
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
        "text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}"
        "img{max-width:100%}.how{color:#555;font-size:90%}</style></head><body>"
        + body + CHECK_SCRIPT + "</body></html>")


def html_table(header: list[str], rows: list[list], text_columns: tuple[int, ...] = (0,)) -> str:
    """A table; the columns in ``text_columns`` are aligned left, the rest (figures) right."""
    def cell(tag: str, i: int, value) -> str:
        style = " style='text-align:left'" if i in text_columns else ""
        return f"<{tag}{style}>{html.escape(str(value))}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell("td", i, c) for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
