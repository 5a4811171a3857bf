"""Check the built documentation site as a reader sees it, without a network.

    python tools/check_docs_browser.py [SITE]      # default: site/ (``make docs`` first)

Two checks, each a function that ``tests/test_docs.py`` also calls:

- :func:`broken_links`: every internal ``href``/``src`` of every page names a file of the
  site, and every ``#fragment`` an ``id`` on the page it points to (plain Python).
- :func:`render_check`: the site is served on 127.0.0.1 and every page with formulas is
  opened in headless chromium (Debian's ``chromium`` package) with every other host made
  unresolvable; after the scripts ran, each page must show rendered MathJax
  (``mjx-container`` elements, none of them a TeX error) and no raw TeX delimiters left in
  its text. Skipped (exit 0 with a message) when no chromium is installed.
"""

from __future__ import annotations

import functools
import html
import re
import shutil
import subprocess
import sys
import threading
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

__all__ = ["broken_links", "find_chromium", "render_check"]

_LINKING_TAGS = {"a", "link", "script", "img", "iframe", "source"}


class _Page(HTMLParser):
    """The ids a page defines and the links it makes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("name"):
            self.ids.add(a["name"])
        if tag in _LINKING_TAGS:
            for key in ("href", "src"):
                if a.get(key):
                    self.links.append(a[key])


def broken_links(site: Path) -> list[str]:
    """Internal links of the built ``site`` that name no file, or no anchor on their page."""
    site = Path(site).resolve()
    pages: dict[Path, _Page] = {}
    for f in sorted(site.rglob("*.html")):
        page = _Page()
        page.feed(f.read_text(encoding="utf-8"))
        pages[f.resolve()] = page
    bad = []
    for f, page in pages.items():
        for url in page.links:
            parts = urlsplit(url)
            if parts.scheme or parts.netloc:
                continue  # another site, data:, mailto:
            if not parts.path:
                target = f
            elif parts.path.startswith("/"):  # 404.html links from the site's root
                target = (site / unquote(parts.path).lstrip("/")).resolve()
            else:
                target = (f.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            where = f"{f.relative_to(site)}: {url}"
            if not target.is_file():
                bad.append(f"{where} (no such file)")
            elif parts.fragment and target in pages:
                if unquote(parts.fragment) not in pages[target].ids:
                    bad.append(f"{where} (no such anchor on {target.relative_to(site)})")
    return bad


def find_chromium() -> str | None:
    """The path of a chromium (or chrome) executable, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _pages_with_formulas(site: Path) -> list[Path]:
    out = []
    for f in sorted(site.rglob("*.html")):
        text = f.read_text(encoding="utf-8")
        if 'class="arithmatex"' in text or re.search(r"jp-RenderedMarkdown[^>]*>[^<]*\$", text):
            out.append(f)
        elif "jp-RenderedMarkdown" in text and "$" in _visible_text(text):
            out.append(f)
    return out


def _visible_text(page: str) -> str:
    """The text of a page outside scripts, styles, code, rendered formulas and SVG."""
    page = re.sub(r"(?is)<(script|style|code|pre|svg|mjx-container|textarea)\b.*?</\1>", " ", page)
    return html.unescape(re.sub(r"(?s)<[^>]+>", " ", page))


_RAW_TEX = re.compile(r"\\\(|\\\[|\$\$|\$[^$\s][^$]{0,200}?\\[A-Za-z]+[^$]{0,200}?\$")


def render_check(site: Path, chromium: str, *, timeout: float = 120.0) -> list[str]:
    """Problems with the formulas of ``site`` as headless chromium renders them offline."""
    site = Path(site).resolve()
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    problems = []
    try:
        for page in _pages_with_formulas(site):
            rel = page.relative_to(site).as_posix()
            url = f"http://127.0.0.1:{port}/{rel}"
            cmd = [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-extensions",
                # offline: every host but the local server fails to resolve
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--virtual-time-budget=20000",
                "--dump-dom",
                url,
            ]
            run = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
            dom = run.stdout
            n_rendered = dom.count("<mjx-container")
            if run.returncode != 0 or not dom:
                problems.append(f"{rel}: chromium failed ({run.returncode}): {run.stderr[-400:]}")
            elif n_rendered == 0:
                problems.append(f"{rel}: no formula rendered (MathJax did not run)")
            elif "<mjx-merror" in dom:
                problems.append(f"{rel}: a formula is a TeX error (mjx-merror)")
            else:
                raw = _RAW_TEX.findall(_visible_text(dom))
                if raw:
                    problems.append(f"{rel}: raw TeX left in the page: {raw[:3]}")
    finally:
        server.shutdown()
        server.server_close()
    return problems


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def main(argv: list[str]) -> int:
    site = Path(argv[0] if argv else "site")
    if not (site / "index.html").is_file():
        print(f"no built site at {site}/ (run `make docs` first)", file=sys.stderr)
        return 2
    problems = [f"link: {b}" for b in broken_links(site)]
    chromium = find_chromium()
    if chromium is None:
        print("no chromium: formulas not checked (apt-get install chromium)", file=sys.stderr)
    else:
        pages = _pages_with_formulas(site)
        problems += render_check(site, chromium)
        print(f"{len(pages)} pages with formulas rendered offline in {chromium}")
    checked = "links, anchors" + (", formulas" if chromium else "")
    print("\n".join(problems) if problems else f"site OK: {checked}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
