"""Schedules as data, and a pure simulator that proves them correct.

A schedule moves *chunks* of a buffer between ranks. What a rank holds of a chunk is
the set of ranks whose contribution has been reduced into its copy (for all-gather,
the one owner; for all-reduce, every rank once done). A transfer either *reduces*
what the source holds into the destination's copy (the sets must be disjoint: a
contribution counted twice is a wrong sum) or *copies* it over.

Each transfer lists the data it needs present at its source (``needs``: chunk and
contributions) and the transfers that bring that data (``deps``, always receives at
its source). An agent starts a send once its deps have arrived, with no central
clock; :func:`execute` checks that this is enough by running the transfers in any
order the deps allow, not just step by step.

Builders declare transfers as (step, src, dst, chunks, op); :class:`ScheduleBuilder` derives
``needs`` and ``deps`` from the data flow in step order and rejects a step that both
reads and writes one rank's chunk (its outcome would depend on timing).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from fabrictwin.errors import FabricTwinError

REDUCE, COPY = "reduce", "copy"
Holdings = dict[int, dict[int, frozenset[int]]]  # rank -> chunk -> contributions


class ScheduleError(FabricTwinError):
    """A schedule broke its own rules: data missing, a dependency skipped, a double count."""


@dataclass(frozen=True)
class Transfer:
    id: int
    src: int
    dst: int
    chunks: tuple[int, ...]
    size_bytes: int
    op: str  # REDUCE or COPY
    needs: tuple[tuple[int, frozenset[int]], ...]  # (chunk, contributions) held at src
    deps: tuple[int, ...]  # transfers into src that bring ``needs``


@dataclass(frozen=True)
class Schedule:
    name: str
    ranks: int
    size_bytes: int  # the collective's size S, as nccl-tests defines it
    chunk_bytes: tuple[int, ...]
    steps: tuple[tuple[Transfer, ...], ...]
    initial: tuple[tuple[int, int, frozenset[int]], ...]  # (rank, chunk, contributions)
    goal: tuple[tuple[int, int, frozenset[int]], ...]

    @property
    def transfers(self) -> Iterator[Transfer]:
        for step in self.steps:
            yield from step

    @property
    def total_bytes(self) -> int:
        return sum(t.size_bytes for t in self.transfers)

    def bytes_sent(self) -> list[int]:
        out = [0] * self.ranks
        for t in self.transfers:
            out[t.src] += t.size_bytes
        return out


def split(size_bytes: int, parts: int) -> list[int]:
    """``size_bytes`` in ``parts`` sizes that differ by at most one byte, larger first."""
    if parts < 1:
        raise FabricTwinError(f"cannot split into {parts} parts")
    q, r = divmod(size_bytes, parts)
    return [q + (i < r) for i in range(parts)]


def check_ranks(name: str, n: int) -> None:
    """A builder's rank count, refused in one line before anything is split."""
    if n < 1:
        raise FabricTwinError(f"{name}: ranks must be at least 1, got {n}")


class ScheduleBuilder:
    """Collects declared transfers and builds a :class:`Schedule` with needs and deps."""

    def __init__(self, name: str, ranks: int, size_bytes: int, chunk_bytes: Sequence[int]):
        if ranks < 1:
            raise FabricTwinError(f"{name}: ranks must be at least 1, got {ranks}")
        if size_bytes < 0:
            raise FabricTwinError(f"{name}: size must not be negative, got {size_bytes}")
        self.name, self.ranks, self.size_bytes = name, ranks, size_bytes
        self.chunk_bytes = tuple(chunk_bytes)
        self.initial: dict[tuple[int, int], frozenset[int]] = {}
        self.goal: dict[tuple[int, int], frozenset[int]] = {}
        self.declared: dict[int, list[tuple[int, int, tuple[int, ...], str, tuple[int, ...]]]] = {}

    def hold(self, rank: int, chunk: int, contributions: Iterable[int]) -> None:
        self.initial[rank, chunk] = frozenset(contributions)

    def want(self, rank: int, chunk: int, contributions: Iterable[int]) -> None:
        self.goal[rank, chunk] = frozenset(contributions)

    def reduce_everything(self, chunks: int) -> None:
        """Every rank starts with its own contribution to every chunk and must end with
        all of them (an all-reduce's goal)."""
        full = frozenset(range(self.ranks))
        for r in range(self.ranks):
            for c in range(chunks):
                self.hold(r, c, {r})
                self.want(r, c, full)

    def send(self, step: int, src: int, dst: int, chunks: Iterable[int], op: str,
             after: Iterable[int] = ()) -> None:
        """Declare a transfer; ``after`` names more chunks that must be at src first."""
        chunks = tuple(chunks)
        if src == dst or not (0 <= src < self.ranks and 0 <= dst < self.ranks):
            raise FabricTwinError(f"{self.name}: bad transfer {src} -> {dst}")
        if op not in (REDUCE, COPY) or not chunks:
            raise FabricTwinError(f"{self.name}: bad transfer op {op!r} or no chunks")
        self.declared.setdefault(step, []).append((src, dst, chunks, op, tuple(after)))

    def build(self) -> Schedule:
        held: dict[tuple[int, int], frozenset[int]] = dict(self.initial)
        # writes to (rank, chunk) since its last copy: what a read of it depends on
        writers: dict[tuple[int, int], list[int]] = {}
        steps: list[tuple[Transfer, ...]] = []
        next_id = 0
        for step in sorted(self.declared):
            out: list[Transfer] = []
            reads: set[tuple[int, int]] = set()
            writes: dict[tuple[int, int], list[str]] = {}
            for src, dst, chunks, op, after in self.declared[step]:
                needs, deps = [], set()
                for c in dict.fromkeys(chunks + after):
                    have = held.get((src, c))
                    if not have:
                        raise ScheduleError(f"{self.name}: step {step}: rank {src} sends "
                                            f"chunk {c} it does not hold")
                    needs.append((c, have))
                    deps.update(writers.get((src, c), ()))
                    reads.add((src, c))
                for c in chunks:
                    ops = writes.setdefault((dst, c), [])
                    ops.append(op)
                    if COPY in ops and len(ops) > 1:  # a copy races any other write
                        raise ScheduleError(f"{self.name}: step {step}: conflicting writes "
                                            f"to chunk {c} of rank {dst}")
                size = sum(self.chunk_bytes[c] for c in chunks)
                out.append(Transfer(next_id, src, dst, chunks, size, op, tuple(needs),
                                    tuple(sorted(deps))))
                next_id += 1
            if reads & writes.keys():
                raise ScheduleError(f"{self.name}: step {step} reads and writes chunk "
                                    f"{sorted(reads & writes.keys())[0]}")
            for t in out:  # apply in step order: every read above saw the step's start
                for c in t.chunks:
                    carried = dict(t.needs)[c]
                    if t.op == COPY:
                        held[t.dst, c], writers[t.dst, c] = carried, [t.id]
                    else:
                        held[t.dst, c] = held.get((t.dst, c), frozenset()) | carried
                        writers.setdefault((t.dst, c), []).append(t.id)
            steps.append(tuple(out))
        return Schedule(self.name, self.ranks, self.size_bytes, self.chunk_bytes, tuple(steps),
                        tuple((r, c, s) for (r, c), s in sorted(self.initial.items())),
                        tuple((r, c, s) for (r, c), s in sorted(self.goal.items())))


def initial_holdings(schedule: Schedule, ranks: int | None = None) -> Holdings:
    n = schedule.ranks if ranks is None else ranks
    if n < schedule.ranks:
        raise FabricTwinError(f"{schedule.name} needs {schedule.ranks} ranks, got {n}")
    state: Holdings = {r: {} for r in range(n)}
    for r, c, s in schedule.initial:
        state[r][c] = s
    return state


def execute(schedule: Schedule, ranks: int | None = None,
            order: Sequence[int] | None = None) -> Holdings:
    """Run the transfers (in step order, or ``order`` of ids) and return what each rank holds.

    Raises :class:`ScheduleError` when a transfer starts before its deps, its source
    lacks the data it needs, or a reduction would count a contribution twice.
    """
    state = initial_holdings(schedule, ranks)
    by_id = {t.id: t for t in schedule.transfers}
    if order is None:
        order = [t.id for t in schedule.transfers]
    if sorted(order) != sorted(by_id):
        raise ScheduleError(f"{schedule.name}: order must list every transfer once")
    done: set[int] = set()
    for tid in order:
        t = by_id[tid]
        missing = [d for d in t.deps if d not in done]
        if missing:
            raise ScheduleError(f"{schedule.name}: transfer {tid} started before {missing[0]}")
        have = state[t.src]
        for c, need in t.needs:
            if not need <= have.get(c, frozenset()):
                raise ScheduleError(f"{schedule.name}: transfer {tid}: rank {t.src} lacks "
                                    f"chunk {c} from {sorted(need - have.get(c, frozenset()))}")
        for c in t.chunks:
            carried, old = have[c], state[t.dst].get(c, frozenset())
            if t.op == REDUCE and carried & old:
                raise ScheduleError(f"{schedule.name}: transfer {tid} counts rank "
                                    f"{min(carried & old)} twice in chunk {c} at {t.dst}")
            state[t.dst][c] = carried if t.op == COPY else old | carried
        done.add(tid)
    return state


def verify(schedule: Schedule, order: Sequence[int] | None = None) -> Holdings:
    """:func:`execute`, then check every goal (rank, chunk, contributions) is met exactly."""
    state = execute(schedule, order=order)
    for r, c, want in schedule.goal:
        got = state[r].get(c, frozenset())
        if got != want:
            raise ScheduleError(f"{schedule.name}: rank {r} ends with chunk {c} from "
                                f"{sorted(got)}, expected {sorted(want)}")
    return state


def random_order(schedule: Schedule, rng: random.Random) -> list[int]:
    """A random order of transfer ids that respects every dependency (as agents might run)."""
    waiting = {t.id: set(t.deps) for t in schedule.transfers}
    users: dict[int, list[int]] = {}
    for tid, deps in waiting.items():
        for d in deps:
            users.setdefault(d, []).append(tid)
    ready = sorted(tid for tid, deps in waiting.items() if not deps)
    order: list[int] = []
    while ready:
        tid = ready.pop(rng.randrange(len(ready)))
        order.append(tid)
        for u in users.get(tid, ()):
            waiting[u].discard(tid)
            if not waiting[u]:
                ready.append(u)
    if len(order) != len(waiting):
        raise ScheduleError(f"{schedule.name}: dependency cycle")
    return order


def agent_view(schedule: Schedule, rank: int) -> dict[str, list[dict[str, object]]]:
    """What one rank's agent needs: its sends (with the receives each waits on), its receives."""
    sends, recvs = [], []
    for t in schedule.transfers:
        if t.src == rank:
            sends.append({"id": t.id, "dst": t.dst, "size_bytes": t.size_bytes,
                          "deps": list(t.deps)})
        if t.dst == rank:
            recvs.append({"id": t.id, "src": t.src, "size_bytes": t.size_bytes})
    return {"sends": sends, "recvs": recvs}


def side_by_side(a: Schedule, b: Schedule) -> tuple[Schedule, frozenset[int]]:
    """``a`` and ``b`` at once over the same ranks (two jobs sharing a fabric): b's chunks
    and transfer ids follow a's, step i of each runs together. Returns the schedule and
    the ids of b's transfers, to time each part apart.

    >>> from fabrictwin.traffic.collectives import ring_all_reduce
    >>> s, ids = side_by_side(ring_all_reduce(2, 8), ring_all_reduce(2, 16))
    >>> s.total_bytes, sorted(ids), len(s.steps)
    (48, [4, 5, 6, 7], 2)
    >>> _ = verify(s)
    """
    chunk0 = len(a.chunk_bytes)
    id0 = max((t.id for t in a.transfers), default=-1) + 1

    def moved(t: Transfer) -> Transfer:
        return Transfer(t.id + id0, t.src, t.dst, tuple(c + chunk0 for c in t.chunks),
                        t.size_bytes, t.op, tuple((c + chunk0, s) for c, s in t.needs),
                        tuple(d + id0 for d in t.deps))

    steps = [tuple(a.steps[i] if i < len(a.steps) else ())
             + tuple(moved(t) for t in (b.steps[i] if i < len(b.steps) else ()))
             for i in range(max(len(a.steps), len(b.steps)))]
    shift = tuple((r, c + chunk0, s) for r, c, s in b.initial)
    merged = Schedule(f"{a.name}+{b.name}", max(a.ranks, b.ranks), a.size_bytes + b.size_bytes,
                      a.chunk_bytes + b.chunk_bytes, tuple(steps), a.initial + shift,
                      a.goal + tuple((r, c + chunk0, s) for r, c, s in b.goal))
    return merged, frozenset(t.id + id0 for t in b.transfers)


def relabel(schedule: Schedule, ranks: Sequence[int], n: int) -> Schedule:
    """``schedule`` with its rank r on rank ``ranks[r]`` of ``n`` (a job on some of the
    fabric's GPUs); contributions keep naming the job's own ranks, relabelled too.

    >>> from fabrictwin.traffic.collectives import ring_all_reduce
    >>> s = relabel(ring_all_reduce(2, 8), [1, 3], 4)
    >>> s.ranks, sorted({(t.src, t.dst) for t in s.transfers})
    (4, [(1, 3), (3, 1)])
    >>> _ = verify(s)
    """
    if len(ranks) != schedule.ranks or len(set(ranks)) != len(ranks) \
            or not all(0 <= r < n for r in ranks):
        raise FabricTwinError(f"{schedule.name}: need {schedule.ranks} distinct ranks below "
                              f"{n}, got {list(ranks)}")
    to = list(ranks)

    def contrib(s: frozenset[int]) -> frozenset[int]:
        return frozenset(to[r] for r in s)

    steps = tuple(tuple(Transfer(t.id, to[t.src], to[t.dst], t.chunks, t.size_bytes, t.op,
                                 tuple((c, contrib(s)) for c, s in t.needs), t.deps)
                        for t in step) for step in schedule.steps)
    return Schedule(schedule.name, n, schedule.size_bytes, schedule.chunk_bytes, steps,
                    tuple((to[r], c, contrib(s)) for r, c, s in schedule.initial),
                    tuple((to[r], c, contrib(s)) for r, c, s in schedule.goal))
