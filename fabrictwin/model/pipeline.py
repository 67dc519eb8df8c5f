"""Why a collective gets less than its asymptotic bandwidth below ~1 GiB: NCCL's launch rules.

Two NCCL behaviours, both from its source, set the bandwidth of small and mid-size
messages; the parameters are NCCL's constants and the GPU profile's channel counts:

- **Channel ramp** (``src/enqueue.cc`` ``topoGetAlgoInfo``). A ring or tree collective
  runs on ``nc`` channels, one CTA each, and NCCL drops channels while the size is
  below ``nc x threads x thread threshold`` (:data:`BYTES_PER_CHANNEL`; LL on a ring
  scales with the ranks). A channel moves at most its share of the tier, so a message
  on ``k`` of ``channels`` channels gets ``k/channels`` of the bandwidth, unless a
  ceiling on all channels together binds (LL's ``llMaxBw``): then it keeps the ceiling
  while ``k`` channels still reach it. NVLS runs its fixed ``nvls_channels``.
- **Chunk handshakes** (``calcCollChunking``). Simple-protocol data moves in chunks; every
  chunk a channel sends waits for its peer's flag and fences before posting its own
  (:func:`chunk_overhead_s`). A channel moving ``c``-byte chunks at rate ``B_ch`` therefore
  reaches ``c / (c + o B_ch)`` of its rate. NCCL sizes the chunks with the message: the
  ring's chunk is the message's share per rank and channel, capped by the buffer slice
  (``NCCL_BUFFSIZE / NCCL_STEPS x SLICESTEPS`` = 1 MiB); NVLS in one node steps through
  16-128 KiB by NCCL's own ladder, NVLSTree across nodes grows smoothly from 32 KiB. LL
  and LL128 carry a flag in every line: no handshake.
  Both are made continuous in size (fractional channels, a smooth chunk) so that the
  time stays monotonic in size, as nccl-tests' averages nearly are.

The factor is relative to the largest chunk: the asymptotic rates (the NVLink packet
efficiency, NCCL's ``nvlsEfficiency`` in the switch profile) match measurements taken
there, where NCCL_STEPS buffers in flight hide the handshakes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fabrictwin.model.system import System

#: NCCL_STEPS and the default Simple buffer per channel and peer (src/include/device.h, init.cc).
NCCL_STEPS = 8
SIMPLE_BUFFER_BYTES = 4 << 20
#: A ring slice is NCCL_STEPS/4 steps of the buffer (ALLREDUCE_SLICESTEPS), a chunk two slices.
RING_SLICE_BYTES = SIMPLE_BUFFER_BYTES // NCCL_STEPS * (NCCL_STEPS // 4)
RING_SLICES_PER_CHUNK = 2
#: Tree and p2p steps are one buffer slot; p2p over NVLink uses 512 KiB, over the network
#: 128 KiB (NCCL_P2P_NVL_CHUNKSIZE, NCCL_P2P_NET_CHUNKSIZE).
TREE_CHUNK_BYTES = SIMPLE_BUFFER_BYTES // NCCL_STEPS
P2P_CHUNK_BYTES = {"scale-up": 512 << 10, "net": 128 << 10}
#: NCCL_NVLS_CHUNKSIZE default, and the share per head per chunk around which NCCL's
#: NVLSTree chunk moves to the next size (thresholds at 1-32 chunks), taken smoothly.
NVLS_CHUNK_BYTES = 128 << 10
NVLS_SHARE_PER_CHUNK = 8.0
#: calcCollChunking (src/enqueue.cc) for NVLS in one node: NCCL halves the chunk while the
#: message is below ``k x concurrent ops x chunk`` (ops: channels x NVLS heads, so the bound
#: is on the share of one head and channel), down to a floor: (k, floor) in NCCL's order.
NVLS_LADDER = ((64, 64 << 10), (8, 32 << 10), (2, 16 << 10))
#: threads x thread threshold (NCCL_*_MAX_NTHREADS x NCCL_*_THREAD_THRESHOLD, src/include
#: device.h and comm.h): below channels x this, NCCL runs fewer channels.
BYTES_PER_CHANNEL = {"LL": 512 * 8, "LL128": 640 * 8, "Simple": 512 * 64}


@dataclass(frozen=True)
class Pipe:
    """The size-dependent part of one algorithm/protocol's bandwidth on one system.

    ``bytes_per_channel`` 0 means a fixed channel count; ``overhead_bytes`` is the chunk
    handshake time times one channel's rate; a channel's share of one step is the size /
    (channels x ``split``).
    """

    channels: int
    bytes_per_channel: float
    overhead_bytes: float
    chunk_max: float
    chunk_min: float = 0.0
    ratio: float = 1.0  # the chunk grows as the share / ratio between chunk_min and chunk_max
    #: NCCL's chunk steps, (share threshold, chunk below it, chunk from it), ascending;
    #: when given they set the chunk instead of ``ratio`` and ``chunk_min``
    steps: tuple[tuple[float, float, float], ...] = ()
    split: float = 1.0
    relative: bool = True  # the asymptotic rate holds at chunk_max
    #: NCCL's medium-size correction of the tree (:data:`TREE_CORRECTION`), or None
    correction: tuple[float, ...] | None = None
    #: the share of the channels' summed rate a ceiling on all of them together leaves
    #: (NCCL's llMaxBw; 1: none binds): fewer channels slow a message only once their
    #: sum falls below it
    ceiling: float = 1.0

    def active_channels(self, size_bytes: np.ndarray) -> np.ndarray:
        """Channels NCCL runs at each size (the whole count when it does not ramp)."""
        sizes = np.asarray(size_bytes, dtype=float)
        if self.bytes_per_channel <= 0:
            return np.full(sizes.shape, float(self.channels))
        # continuous rather than NCCL's whole channels, so that time stays monotonic in size
        return np.clip(sizes / self.bytes_per_channel, 1, self.channels)

    def share_bytes(self, size_bytes: np.ndarray) -> np.ndarray:
        """Bytes one channel carries for one peer (or head) in one step of the algorithm."""
        sizes = np.asarray(size_bytes, dtype=float)
        return np.maximum(sizes / (self.active_channels(sizes) * max(self.split, 1e-300)), 1.0)

    def chunk_bytes(self, size_bytes: np.ndarray) -> np.ndarray:
        """Bytes one channel moves between two handshakes, at each size.

        NCCL's steps are taken over the octave of the share below each threshold (linear
        in log2), so that the time stays monotonic in size; at the threshold and at every
        share a power of two away from it (nccl-tests' sizes: NCCL's channels and heads
        are powers of two) the chunk is NCCL's.

        >>> Pipe(1, 0, 0, 4, steps=((16, 2, 4),)).chunk_bytes(np.array([8., 12, 16, 64])).round(2)
        array([2., 3., 4., 4.])
        """
        share = self.share_bytes(size_bytes)
        if self.steps:
            xs, ys = [], []
            for threshold, below, above in self.steps:
                xs += [np.log2(threshold) - 1, np.log2(threshold)]
                ys += [np.log2(below), np.log2(above)]
            chunk = 2.0 ** np.interp(np.log2(share), xs, ys)
        else:
            chunk = np.clip(share / self.ratio, self.chunk_min, self.chunk_max)
        return np.minimum(chunk, share)

    def factor(self, size_bytes: np.ndarray) -> np.ndarray:
        """Seconds per byte at each size over the asymptotic seconds per byte (>= ~1).

        The first handshake of every step is already in the latency term (a step's
        cost), so only the chunks after it add ``overhead_bytes / chunk`` each.
        """
        sizes = np.asarray(size_bytes, dtype=float)
        ramp = np.maximum(self.channels / self.active_channels(sizes) * self.ceiling, 1.0)
        chunk = self.chunk_bytes(sizes)
        extra = 1 - chunk / self.share_bytes(sizes)
        handshake = 1 + self.overhead_bytes / chunk * extra
        if self.relative:
            handshake = handshake / (1 + self.overhead_bytes / self.chunk_max)
            handshake = np.maximum(handshake, 1.0)
        return ramp * handshake / self.corrected(sizes)

    def corrected(self, size_bytes: np.ndarray) -> np.ndarray:
        """NCCL's tree correction at each size (1 without one), linear in log2(size):
        NCCL indexes its table by whole powers of two, which would make the time drop
        where the factor rises; between table points it stays monotonic.

        >>> Pipe(1, 0, 0, 1, correction=TREE_CORRECTION["Simple"]).corrected(
        ...     np.array([64 << 14, 64 << 15, 64 << 16, 1 << 40]))
        array([0.5, 0.6, 0.7, 1. ])
        """
        sizes = np.asarray(size_bytes, dtype=float)
        if self.correction is None:
            return np.ones(sizes.shape)
        x = np.log2(np.maximum(sizes, 64.0) / 64.0)
        table = np.array(self.correction)
        return np.interp(x, np.arange(len(table)), table, right=1.0)


#: NCCL's ``treeCorrectionFactor`` (src/graph/tuning.cc, 2.30.7, commit 5067397c, lines
#: 620-628): the share of its modelled bandwidth a tree all-reduce reaches, by protocol,
#: at 64 B x 2**i ("trees are not perfectly sticking to the model for medium sizes").
#: NCCL applies it to Tree all-reduces, and to NVLSTree on Blackwell (x86 hosts).
TREE_CORRECTION = {
    "LL": (1.0, 1.0, 1.0, 1.0, .9, .8, .7, .7, .7, .7, .6, .5, .4, .4, .5, .6, .7, .8, .9,
           1.0, 1.0, 1.0, 1.0, 1.0),
    "LL128": (1.0, 1.0, 1.0, 1.0, 1.0, .9, .8, .8, .8, .7, .6, .6, .6, .6, .6, .6, .8, .9,
              .9, .9, .9, 1.0, 1.0, 1.0),
    "Simple": (.9, .9, .9, .9, .9, .9, .9, .8, .7, .6, .6, .5, .5, .5, .5, .6, .7, .8, .7,
               .7, .8, .9, .9, .9),
}
#: NCCL stops correcting at 64 B x 2**23 (tree) or 2**24 (NVLSTree): beyond, 1.
TREE_CORRECTION_POINTS = {"tree": 23, "nvls": 24}


def _correction(system: System, collective: str, algorithm: str,
                protocol: str) -> tuple[float, ...] | None:
    """The correction NCCL applies to this choice, if any."""
    if collective != "all_reduce":
        return None
    nodes = system.ranks // system.tiers[0].size
    blackwell = any(k in system.gpu_model.upper() for k in ("B200", "B300", "GB200"))
    if algorithm == "tree" or (algorithm == "nvls" and nodes > 1 and blackwell):
        return TREE_CORRECTION[protocol][:TREE_CORRECTION_POINTS[algorithm]]
    return None


def chunk_steps(start: float, ladder: tuple[tuple[int, int], ...]
                ) -> tuple[tuple[float, float, float], ...]:
    """NCCL's chunk ladder from ``start`` as (share threshold, chunk below, chunk from),
    ascending: calcCollChunking halves the chunk to ``floor`` while the share is below
    ``k x chunk``, testing each (k, floor) in turn.

    >>> chunk_steps(128 << 10, NVLS_LADDER)[-1]  # 64 KiB below 64 x 128 KiB = 8 MiB
    (8388608, 65536, 131072)
    """
    chunk, steps = start, []
    for k, floor in ladder:
        if chunk > floor:
            steps.append((k * chunk, floor, chunk))
            chunk = floor
    return tuple(sorted(steps))


def chunk_overhead_s(system: System, tier: int, protocol: str) -> float:
    """Per-chunk handshake of ``protocol`` on tier ``tier``: wait for the flag, fence, post.

    Simple only: LL and LL128 put a flag in every 8- or 128-byte line and never wait
    for a whole chunk.
    """
    if protocol != "Simple":
        return 0.0
    t = system.tiers[tier]
    return t.sync_s + t.fence_s


def pipe_for(system: System, collective: str, algorithm: str, protocol: str,
             bottleneck: int, efficiency: float) -> Pipe:
    """NCCL's channel and chunk rules for this choice; ``bottleneck`` sets the tier rate."""
    t = system.tiers[bottleneck]
    n = system.ranks
    nvls = algorithm == "nvls" or algorithm.startswith("nvls")
    channels = system.nvls_channels if nvls else system.channels
    rate = t.payload_bps * efficiency / 8 / channels
    overhead = chunk_overhead_s(system, bottleneck, protocol) * rate
    if nvls:
        nodes = system.ranks // system.tiers[0].size
        # one node: NCCL's NVLS ladder (16 -> 32 -> 64 -> 128 KiB); across nodes NVLSTree
        # from 32 KiB up (64 KiB at most from 4 nodes: nvlsTreeMaxChunkSize) as a smooth
        # share / NVLS_SHARE_PER_CHUNK (NCCL's own NVLSTree ladder makes Hopper NVLSTree
        # 24-27% faster than measured at 16-64 MiB: docs/projection.md, Validation)
        top = NVLS_CHUNK_BYTES if nodes < 4 else 64 << 10
        steps = chunk_steps(top, NVLS_LADDER) if nodes == 1 else ()
        return Pipe(channels, 0.0, overhead, top, chunk_min=32 << 10,
                    ratio=NVLS_SHARE_PER_CHUNK, steps=steps, split=system.tiers[0].size,
                    correction=_correction(system, collective, algorithm, protocol))
    per_channel = BYTES_PER_CHANNEL[protocol] * (n if protocol == "LL" and algorithm == "ring"
                                                 else 1)
    if algorithm == "direct":
        net = bottleneck > 0
        chunk = P2P_CHUNK_BYTES["net" if net else "scale-up"]
        peers = float(n) if collective == "alltoall" else 1.0  # a chunk goes to one peer
        return Pipe(channels, 0.0, overhead, chunk, split=peers / channels)
    if algorithm in ("ring", "hd"):
        return Pipe(channels, per_channel, overhead, RING_SLICE_BYTES,
                    split=n * RING_SLICES_PER_CHUNK)
    return Pipe(channels, per_channel, overhead, TREE_CHUNK_BYTES, split=1.0,
                correction=_correction(system, collective, algorithm, protocol))
