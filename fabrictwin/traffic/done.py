"""Done marks: how the agents of one step tell each other they have finished.

A finished agent must stay a while: a sender whose last ACK was lost resends after its
timeout and needs an answer. A fixed linger long enough for any timeout made every
step last that long (a minute at high dilations), so with a shared directory each agent
marks itself done and one that has finished leaves as soon as every agent it receives
from is done, or at the end of its linger, whichever comes first. The agents of an
emulation are processes on one machine, so a file is all the signal needed.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def mark_path(directory: str | Path, rank: int) -> Path:
    return Path(directory) / f"done-{rank}"


class DoneMarks:
    """This agent's mark and the marks of the ranks it waits for (``directory`` None:
    no marks; :meth:`senders_done` is then always False and the linger decides)."""

    def __init__(self, directory: str | None, rank: int, senders: Iterable[int]) -> None:
        self.mine = mark_path(directory, rank) if directory else None
        self.waiting = {mark_path(directory, r) for r in senders} if directory else set()

    def mark(self) -> None:
        if self.mine is not None:
            self.mine.touch()

    def senders_done(self) -> bool:
        if self.mine is None:
            return False
        self.waiting = {p for p in self.waiting if not p.exists()}
        return not self.waiting


def clear_marks(directory: str | Path) -> None:
    """Remove marks a previous run left in ``directory``."""
    for p in Path(directory).glob("done-*"):
        p.unlink(missing_ok=True)
