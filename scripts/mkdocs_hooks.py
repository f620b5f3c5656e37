"""MkDocs hook: render the Sphinx roles of the docstrings (``:func:`~daft_mnist.x` ``) as links.

The docstrings use Sphinx cross-reference roles, which mkdocstrings leaves as literal text
(``:func:<code>x</code>``). This turns each into ``<code>x</code>``, linked to its entry in
the API reference when it has one, and shortened to the last name for a ``~`` target.
"""

from __future__ import annotations

import re
from typing import Any

import daft_mnist

_ROLE = re.compile(r":(?:func|class|data|meth|attr|exc|mod|obj):<code>(~?)([\w.]+)(\(\))?</code>")
_ID = re.compile(r'id="(daft_mnist[\w.]*)"')


def _candidates(target: str) -> list[str]:
    """Full ids a role target may mean, most specific first."""
    name = target.removeprefix("daft_mnist.")
    head = name.partition(".")[0]
    found = [target, f"daft_mnist.{name}"]
    module = daft_mnist._EXPORTS.get(head)
    if module is not None:
        found.append(f"{module}.{name}")
    return found


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    ids = set(_ID.findall(html))  # the API reference's anchors (docstrings are rendered there only)

    def link(m: re.Match[str]) -> str:
        tilde, target, call = m.group(1), m.group(2), m.group(3) or ""
        shown = (target.rsplit(".", 1)[-1] if tilde else target) + call
        for full in _candidates(target):
            if full in ids:
                return f'<a href="#{full}"><code>{shown}</code></a>'
        return f"<code>{shown}</code>"

    return _ROLE.sub(link, html)
