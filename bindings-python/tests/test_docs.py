"""Every public name a user meets in `help()` says what it does."""

from __future__ import annotations

import inspect

import keel
from keel import _native


def _members() -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []
    for module in (keel, _native):
        for name in getattr(module, "__all__", None) or dir(module):
            if name.startswith("_"):
                continue
            obj = getattr(module, name)
            if inspect.isclass(obj) or callable(obj):
                found.append((f"{module.__name__}.{name}", obj))
            if inspect.isclass(obj) and obj.__module__.startswith("keel._native"):
                for attr, value in vars(obj).items():
                    if not attr.startswith("_"):
                        found.append((f"{module.__name__}.{name}.{attr}", value))
    return found


def test_every_public_class_method_and_property_has_a_docstring() -> None:
    members = _members()
    assert len(members) > 120
    missing = [name for name, obj in members if not (getattr(obj, "__doc__", None) or "").strip()]
    assert missing == []


def test_async_methods_say_they_are_awaitable() -> None:
    for method in (keel.Keel.close, keel.SkillRegistry.sync, keel.Keel.applied_migrations):
        assert "awaitable" in (method.__doc__ or ""), method
