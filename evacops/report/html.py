"""A self-contained HTML page (:class:`HtmlReport`): headings, key figures, tables and embedded
PNG plots, the form every ``report.html`` takes."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd


class HtmlReport:
    """A self-contained HTML page: headings, key figures, tables and embedded PNG plots."""

    def __init__(self, title: str):
        self.title = title
        self.parts: list[str] = []

    def heading(self, text: str, level: int = 2) -> None:
        self.parts.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def paragraph(self, text: str) -> None:
        self.parts.append(f"<p>{html.escape(text)}</p>")

    def bullets(self, items: list[str]) -> None:
        lis = "".join(f"<li>{html.escape(i)}</li>" for i in items)
        self.parts.append(f"<ul>{lis}</ul>")

    def figures(self, pairs: list[tuple[str, str]]) -> None:
        cells = "".join(
            f"<div class='kv'><div class='v'>{html.escape(v)}</div>"
            f"<div class='k'>{html.escape(k)}</div></div>"
            for k, v in pairs
        )
        self.parts.append(f"<div class='kvs'>{cells}</div>")

    def table(self, df: pd.DataFrame, max_rows: int = 60) -> None:
        shown = df.head(max_rows)
        self.parts.append(
            shown.to_html(classes="t", border=0, na_rep="–", float_format=lambda v: f"{v:,.1f}")
        )
        if len(df) > max_rows:
            self.paragraph(f"(first {max_rows} of {len(df):,} rows; all rows in the CSV files)")

    def image(self, path: Path, caption: str) -> None:
        data = base64.b64encode(Path(path).read_bytes()).decode()
        self.parts.append(
            f"<figure><img src='data:image/png;base64,{data}' "
            f"alt='{html.escape(caption)}'><figcaption>{html.escape(caption)}"
            "</figcaption></figure>"
        )

    def write(self, path: Path) -> Path:
        css = (
            "body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;"
            "color:#222} table.t{border-collapse:collapse;font-size:13px}"
            " table.t td,table.t th{padding:3px 8px;border-bottom:1px solid #ddd;"
            "text-align:right} figure{margin:1em 0} img{max-width:100%}"
            " figcaption{color:#555;font-size:13px} .kvs{display:flex;flex-wrap:wrap;gap:12px}"
            " .kv{border:1px solid #ddd;border-radius:6px;padding:8px 14px}"
            " .v{font-size:22px;font-weight:600} .k{color:#666;font-size:12px}"
        )
        body = "\n".join(self.parts)
        Path(path).write_text(
            f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}"
            f"</title><style>{css}</style></head><body><h1>{html.escape(self.title)}</h1>\n"
            f"{body}\n</body></html>\n",
            encoding="utf-8",
        )
        return Path(path)
