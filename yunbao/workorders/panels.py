"""Extra panels on the order page, contributed by apps above `workorders`.

`workorders` may not import intake or dispatch, yet the order page should show what they
know (possible duplicates, "me too"s, the dispatch decision). Those apps register a panel
here; the page asks every panel for its content.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    from yunbao.workorders.models import WorkOrder


@dataclass(frozen=True)
class Panel:
    title: Any
    template: str
    context: dict[str, Any]


PanelFactory = Callable[["WorkOrder", "User | AnonymousUser"], "Panel | None"]
_factories: list[PanelFactory] = []


def register(factory: PanelFactory) -> PanelFactory:
    """Add a panel factory (usable as a decorator); it returns None to show nothing."""
    if factory not in _factories:
        _factories.append(factory)
    return factory


def panels_for(order: WorkOrder, user: User | AnonymousUser) -> list[Panel]:
    return [panel for factory in _factories if (panel := factory(order, user)) is not None]
