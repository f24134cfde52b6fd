"""Name -> builder registries (timm style): a new variant is a row, not an `elif`.

Entries are either registered with a decorator, or declared lazily as "module:attr" so that the
names can be checked (config validation, `snakemake -n`) without importing torch.
"""
from __future__ import annotations

import difflib
import importlib
from pathlib import Path
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

    def parameters(self, name: str) -> set[str]:
        """The keyword parameters the builder takes, read from its source for a lazy entry (so a
        config check never imports torch): a class's __init__ (or a base's in the same module), a
        function's own, or those of what it forwards to (`X.forwards_to = Y` at module level)."""
        self.check(name)
        obj = self._entries[name]
        if not isinstance(obj, str):
            import inspect
            target = getattr(obj, "forwards_to", obj)
            ps = inspect.signature(target).parameters.values()
            return {p.name for p in ps if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        import ast
        import importlib.util
        module, attr = obj.split(":")
        tree = ast.parse(Path(importlib.util.find_spec(module).origin).read_text())
        defs = {n.name: n for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
        forwards = {t.value.id: n.value.id for n in tree.body if isinstance(n, ast.Assign)
                    for t in n.targets if isinstance(t, ast.Attribute) and t.attr == "forwards_to"
                    and isinstance(t.value, ast.Name) and isinstance(n.value, ast.Name)}

        def args_of(fn: ast.FunctionDef) -> set[str]:
            return {a.arg for a in fn.args.args + fn.args.kwonlyargs} - {"self"}

        def params(cls_or_fn: str) -> set[str]:
            node = defs[forwards.get(cls_or_fn, cls_or_fn)]
            if isinstance(node, ast.FunctionDef):
                return args_of(node)
            init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
            if init is not None:
                return args_of(init)
            base = next((b.id for b in node.bases if isinstance(b, ast.Name) and b.id in defs), None)
            if base is None:
                raise TypeError(f"{self.kind} {name!r}: cannot read {cls_or_fn}'s parameters from {module}")
            return params(base)
        return params(attr)

    def build(self, name: str, *args, **kwargs) -> Any:
        return self.get(name)(*args, **kwargs)
