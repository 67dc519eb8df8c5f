"""Userspace delay lines: frames entering one interface leave the other ``delay`` later.

For kernels without netem. One process serves many delayed links::

    python -m fabrictwin.fabric.delayline IF_A IF_B DELAY_NS [IF_A IF_B DELAY_NS ...]

Each link bridges two veth ends with AF_PACKET sockets, one FIFO per direction (the
delay is constant, so arrival order is departure order). One event loop serves every
link: a process per link (the first design) made 32 processes poll at once on a
32-link hyper-node and saturated the machine. The loop sleeps on a timerfd (epoll's
own timeout counts whole milliseconds) set for the next departure, early by the
wake-up lateness it has measured, and sends every frame due within ``EARLY_NS``; it
never spins. It exits on SIGTERM, or when its parent dies
(PR_SET_PDEATHSIG), so a killed run leaves no delay line.
"""

from __future__ import annotations

import heapq
import selectors
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Sequence

from fabrictwin.linux.procs import die_with_parent
from fabrictwin.linux.rawsock import open_raw
from fabrictwin.linux.timerfd import MonotonicTimer

BUF_BYTES = 8 << 20
MAX_FRAME = 65536
EARLY_NS = 20_000  # frames due this soon leave now, rather than after another wake-up
LATE_START_NS = 50_000  # first guess of how late a timer wakes us
LATE_GAIN = 1 / 8  # weight of each new lateness sample (EWMA)
IDLE_S = 0.5


def run(links: Sequence[tuple[str, str, int]], stop: list[bool]) -> None:
    """Forward frames both ways on every (IF_A, IF_B, DELAY_NS) link, with that delay
    added, until ``stop[0]`` is set."""
    sel = selectors.DefaultSelector()  # epoll: more sockets than select() takes
    peer: dict[socket.socket, socket.socket] = {}
    delay: dict[socket.socket, int] = {}  # added to frames read on the socket
    for if_a, if_b, delay_ns in links:
        a, b = (open_raw(i, ignore_outgoing=True, buf_bytes=BUF_BYTES, what="delay line")
                for i in (if_a, if_b))
        peer[a], peer[b] = b, a
        delay[a] = delay[b] = int(delay_ns)
        for sock in (a, b):
            sel.register(sock, selectors.EVENT_READ)
    timer = MonotonicTimer()  # epoll's own timeout is whole milliseconds
    sel.register(timer, selectors.EVENT_READ)
    # out[sock] holds (due time, frame) for frames to send on sock; heads holds
    # (due, fd, sock) of every non-empty queue's first frame
    out: dict[socket.socket, deque[tuple[int, bytes]]] = {s: deque() for s in peer}
    heads: list[tuple[int, int, socket.socket]] = []
    clock = time.monotonic_ns
    late_ns, armed = float(LATE_START_NS), 0
    try:
        while not stop[0]:
            if heads and heads[0][0] - late_ns != armed:
                armed = int(heads[0][0] - late_ns)  # wake early by the measured lateness
                timer.set(armed)
            events = sel.select(None if heads else IDLE_S)
            now = clock()
            for key, _ in events:
                s = key.fileobj
                if s is timer:
                    timer.clear()
                    late_ns += LATE_GAIN * (now - armed - late_ns)
                    armed = 0
                    continue
                other = peer[s]  # type: ignore[index]
                queue, due = out[other], now + delay[s]  # type: ignore[index]
                while True:
                    try:
                        frame = s.recv(MAX_FRAME)  # type: ignore[union-attr]
                    except BlockingIOError:
                        break
                    except OSError:  # the interface went away: the run is tearing down
                        return
                    if not queue:
                        heapq.heappush(heads, (due, other.fileno(), other))
                    queue.append((due, frame))
            send_by = clock() + EARLY_NS
            while heads and heads[0][0] <= send_by:
                _, fd, s = heapq.heappop(heads)
                queue = out[s]
                while queue and queue[0][0] <= send_by:
                    try:
                        s.send(queue[0][1])
                    except BlockingIOError:
                        break  # the veth is full: retry on the next turn, keep order
                    except OSError:
                        pass  # e.g. a frame over the MTU: drop it, as a wire would
                    queue.popleft()
                if queue:
                    heapq.heappush(heads, (max(queue[0][0], send_by + 1), fd, s))
    finally:
        timer.close()


def parse_links(argv: Sequence[str]) -> list[tuple[str, str, int]]:
    """(IF_A, IF_B, DELAY_NS) triples from the command line.

    >>> parse_links(["ftd0a", "ftd0b", "2e6", "ftd1a", "ftd1b", "5"])
    [('ftd0a', 'ftd0b', 2000000), ('ftd1a', 'ftd1b', 5)]
    """
    if not argv or len(argv) % 3:
        raise ValueError("expected IF_A IF_B DELAY_NS, once per link")
    return [(argv[i], argv[i + 1], int(float(argv[i + 2]))) for i in range(0, len(argv), 3)]


def main(argv: list[str]) -> int:
    try:
        links = parse_links(argv)
    except ValueError as e:
        print(f"usage: delayline IF_A IF_B DELAY_NS [...]: {e}", file=sys.stderr)
        return 2
    # the default timer slack of 50 us would add to every delay
    die_with_parent(short_timers=True)
    stop = [False]

    def on_term(_sig: int, _frame: object) -> None:
        stop[0] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    run(links, stop)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
