"""A hub that dies in the middle of a batch: its commits are staged (objects written) and main
has not moved, as after a kill between staging and publishing."""
from __future__ import annotations

from collections.abc import Callable

import pytest

from coordinator.hub.batch import Batch


class Died(BaseException):
    """The process died here: nothing after this line of the hub runs."""


def _die() -> None:
    raise Died


def stage_then_die(hub, work: Callable[[Batch], None]) -> None:
    """Run `work` in a batch, then die where the batch would publish. Release the hub's lock and
    close its git afterwards, as a dead process would."""
    def staged(batch: Batch) -> None:
        work(batch)
        hub.store.publish = _die
    with pytest.raises(Died):
        hub.call(staged)
