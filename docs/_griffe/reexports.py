"""Griffe extension: opkit's ``__init__`` re-exports are its public API.

opkit's packages list their API as explicit re-exports (``from ._fno import FNO as FNO``)
rather than ``__all__``; this marks those names as exported so that mkdocstrings shows
them (only names imported from the package's own private modules or subpackages).
"""

from __future__ import annotations

from typing import Any

import griffe


class ReExports(griffe.Extension):
    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        self._mark(pkg)

    def _mark(self, module: griffe.Module) -> None:
        if module.exports is None:
            names = [
                name
                for name, member in module.members.items()
                if not name.startswith("_")
                and (
                    member.target_path.startswith(f"{module.path}.")
                    if member.is_alias
                    else member.is_module
                )
            ]
            if names:
                module.exports = names
        for member in module.members.values():
            if not member.is_alias and member.is_module:
                self._mark(member)
