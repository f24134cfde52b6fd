"""Name -> builder registries (timm style): a new variant is a row, not an `elif`.

Entries are either registered with a decorator, or declared lazily as "module:attr" so that the
names can be checked (config validation, `snakemake -n`) without importing torch.
"""
from __future__ import annotations

import difflib
import importlib
from typing import Any, Callable


class Registry:
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Any] = {}  # name -> object or "module:attr" string

    def register(self, name: str) -> Callable:
        def deco(obj):
            self._add(name, obj)
            return obj
        return deco

    def lazy(self, name: str, target: str) -> None:
        """Declare `name` now; import `target` ("package.module:attr") on first use."""
        self._add(name, target)

    def _add(self, name, obj):
        current = self._entries.get(name)
        lazy_made_real = isinstance(current, str) and not isinstance(obj, str)
        if current is not None and current is not obj and not lazy_made_real:
            raise KeyError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = obj

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def check(self, name: str, where: str = "") -> None:
        """Raise a KeyError that names the bad value, the key it came from and the known names."""
        if name not in self._entries:
            close = difflib.get_close_matches(str(name), self.names(), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            at = f" (at {where})" if where else ""
            raise KeyError(f"unknown {self.kind} {name!r}{at}; known: {', '.join(self.names())}.{hint}")

    def get(self, name: str) -> Any:
        self.check(name)
        obj = self._entries[name]
        if isinstance(obj, str):
            module, attr = obj.split(":")
            obj = getattr(importlib.import_module(module), attr)
            self._entries[name] = obj
        return obj

    def build(self, name: str, *args, **kwargs) -> Any:
        return self.get(name)(*args, **kwargs)
