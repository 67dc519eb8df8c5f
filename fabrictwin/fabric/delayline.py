"""A userspace delay line: frames entering one interface leave the other ``delay`` later.

For kernels without netem. Run as its own process per delayed link::

    python -m fabrictwin.fabric.delayline IF_A IF_B DELAY_NS

It bridges two veth ends with AF_PACKET sockets, one FIFO per direction (the
delay is constant, so arrival order is departure order). It exits on SIGTERM,
or when its parent dies (PR_SET_PDEATHSIG), so a killed run leaves no delay line.
"""

from __future__ import annotations

import select
import signal
import socket
import sys
import time
from collections import deque

from fabrictwin.linux.procs import die_with_parent
from fabrictwin.linux.rawsock import open_raw

BUF_BYTES = 8 << 20
MAX_FRAME = 65536
SPIN_NS = 300_000


def run(if_a: str, if_b: str, delay_ns: int, stop: list[bool]) -> None:
    """Forward frames both ways with ``delay_ns`` added, until ``stop[0]`` is set."""
    a, b = (open_raw(i, ignore_outgoing=True, buf_bytes=BUF_BYTES, what="delay line")
            for i in (if_a, if_b))
    # out[sock] holds (due time, frame) for frames to send on sock
    out: dict[socket.socket, deque[tuple[int, bytes]]] = {a: deque(), b: deque()}
    peer = {a: b, b: a}
    clock = time.monotonic_ns
    while not stop[0]:
        now = clock()
        due = [q[0][0] for q in out.values() if q]
        # Sleep until SPIN_NS before the next departure, then poll: waking from a
        # sleep costs ~100 us here, which would otherwise add to every delay.
        timeout = max(0.0, (min(due) - now - SPIN_NS) / 1e9) if due else 0.5
        readable, _, _ = select.select([a, b], [], [], timeout)
        now = clock()
        for s in readable:
            queue = out[peer[s]]
            while True:
                try:
                    frame = s.recv(MAX_FRAME)
                except BlockingIOError:
                    break
                except OSError:  # the interface went away: the run is tearing down
                    return
                queue.append((now + delay_ns, frame))
        now = clock()
        for s, queue in out.items():
            while queue and queue[0][0] <= now:
                try:
                    s.send(queue[0][1])
                except BlockingIOError:
                    break  # the veth is full: retry on the next turn, keep order
                except OSError:
                    pass  # e.g. a frame over the MTU: drop it, as a wire would
                queue.popleft()


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: delayline IF_A IF_B DELAY_NS", file=sys.stderr)
        return 2
    # the default timer slack of 50 us would add to every delay
    die_with_parent(short_timers=True)
    stop = [False]

    def on_term(_sig: int, _frame: object) -> None:
        stop[0] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    run(argv[0], argv[1], int(float(argv[2])), stop)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
