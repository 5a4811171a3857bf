"""mkdocs hook: the table of contents of a notebook page links to its headings.

mkdocs-jupyter builds a notebook page's table of contents from the Markdown source, whose
anchor slugs leave out inline code (``## The `fit` call`` -> ``#the-call``), while the
rendered notebook gives the heading an id with it (``the-fit-call``): such links led
nowhere. For each table-of-contents anchor missing from the page, this adds an anchor of
that name to the heading whose text, without its inline code, has that slug.
``tests/test_docs.py`` checks that every anchor of the built site resolves.
"""

from __future__ import annotations

import html as html_lib
import re

from markdown.extensions.toc import slugify

_HEADING = re.compile(r"<h([1-6])([^>]*)>(.*?)</h\1>", re.S)


def _toc_ids(items) -> list[str]:
    out = []
    for item in items:
        out.append(item.id)
        out += _toc_ids(item.children)
    return out


def _slug_without_code(inner: str) -> str:
    text = re.sub(r"<code>.*?</code>", "", inner, flags=re.S)
    text = re.sub(r'<a class="anchor-link".*?</a>', "", text, flags=re.S)
    text = html_lib.unescape(re.sub(r"<[^>]+>", "", text))
    return slugify(text, "-")


def on_page_content(html: str, page, config, files) -> str:
    if not page.file.src_uri.endswith(".ipynb"):
        return html
    present = set(re.findall(r'\bid="([^"]+)"', html))
    missing = {i for i in _toc_ids(page.toc) if i and i not in present}
    if not missing:
        return html

    def add_anchor(m: re.Match) -> str:
        slug = _slug_without_code(m.group(3))
        if slug in missing:
            missing.discard(slug)
            return f'<a id="{slug}"></a>{m.group(0)}'
        return m.group(0)

    return _HEADING.sub(add_anchor, html)
