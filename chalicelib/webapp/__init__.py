"""The operators' web app, served by the API itself at `GET /` (docs/webapp.md).

index.html, app.css and app.js are plain files (no build step); the page is answered as one document with
the style and the script inline, so it works under any base path (API Gateway's `/api/`, a custom domain,
the embedded stack's root), and its Content-Security-Policy allows exactly those two inline blocks (by
hash) and nothing else inline. Nothing secret is in it: the API key is typed in by the operator.
"""
from __future__ import annotations

import base64
import functools
import hashlib
from pathlib import Path

from chalice import Response

HERE = Path(__file__).resolve().parent


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@functools.lru_cache(maxsize=1)
def page() -> tuple[str, str]:
    """The page and its Content-Security-Policy."""
    style, script = (HERE / "app.css").read_text(), (HERE / "app.js").read_text()
    html = (HERE / "index.html").read_text()
    html = html.replace('<link rel="stylesheet" href="app.css">', f"<style>{style}</style>")
    html = html.replace('<script src="app.js"></script>', f"<script>{script}</script>")
    policy = "; ".join([
        "default-src 'none'", f"script-src {_hash(script)}", f"style-src {_hash(style)}",
        # Photos: the pre-signed S3 URLs, and the chosen file before it is uploaded; the icon is a data: URL.
        "img-src 'self' blob: data: https: http:",
        # The API (same origin) and the pre-signed POST to the upload bucket.
        "connect-src 'self' https: http:",
        "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
    ])
    return html, policy


def page_response() -> Response:
    html, policy = page()
    return Response(body=html, status_code=200, headers={
        "Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": policy,
        "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"})
