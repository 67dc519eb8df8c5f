"""Inference traffic (pure): prefill-to-decode KV-cache transfer, KV-pool reads, and the
expert-parallel dispatch matrix of a mixture-of-experts layer."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from fabrictwin.errors import FabricTwinError
from fabrictwin.traffic.schedule import COPY, Schedule, ScheduleBuilder, split


def moe_matrix(n: int, tokens_per_rank: int, token_bytes: int, top_k: int = 2,
               experts_per_rank: int = 1, seed: int = 0) -> list[list[int]]:
    """An expert-parallel dispatch matrix: each token goes to ``top_k`` distinct experts,
    chosen uniformly at random (``seed``), hosted ``experts_per_rank`` per rank."""
    experts = n * experts_per_rank
    if not 1 <= top_k <= experts or tokens_per_rank < 0 or token_bytes < 0:
        raise FabricTwinError(f"moe_matrix: top_k must be in 1..{experts}, sizes >= 0")
    rng = random.Random(seed)
    m = [[0] * n for _ in range(n)]
    for s in range(n):
        for _ in range(tokens_per_rank):
            for e in rng.sample(range(experts), top_k):
                m[s][e // experts_per_rank] += token_bytes
    return m


def kv_transfer(prefill: Sequence[Sequence[int]], decode: Sequence[Sequence[int]],
                requests: int, kv_bytes: int, blocks: int = 1) -> Schedule:
    """Prefill-to-decode KV-cache transfer (PD separation).

    ``prefill`` and ``decode`` are groups of ranks (one tensor-parallel instance each).
    Request q is prefilled by group q mod |prefill| and decoded by group q mod |decode|;
    its ``kv_bytes`` go out in ``blocks`` layer blocks as they are computed, each split in
    lcm(tp_p, tp_d) head shards, so differing TP degrees re-shard over many-to-many sends.
    """
    flat_p = [r for grp in prefill for r in grp]
    flat_d = [r for grp in decode for r in grp]
    if not prefill or not decode or not all(prefill) or not all(decode) \
            or set(flat_p) & set(flat_d) or len(set(flat_p + flat_d)) != len(flat_p + flat_d):
        raise FabricTwinError("kv_transfer: prefill and decode need non-empty groups of "
                              "distinct ranks")
    if requests < 0 or blocks < 1:
        raise FabricTwinError("kv_transfer: requests >= 0 and blocks >= 1")
    n = max(flat_p + flat_d) + 1
    per_block = split(kv_bytes, blocks)
    layout: list[tuple[int, int, int]] = []  # (request, block, shards)
    sizes: list[int] = []
    for q in range(requests):
        tp_p, tp_d = len(prefill[q % len(prefill)]), len(decode[q % len(decode)])
        shards = tp_p * tp_d // math.gcd(tp_p, tp_d)
        for blk in range(blocks):
            layout.append((q, blk, len(sizes)))
            sizes.extend(split(per_block[blk], shards))
    b = ScheduleBuilder("kv_transfer", n, kv_bytes * requests, sizes)
    for q, blk, first in layout:
        pg, dg = prefill[q % len(prefill)], decode[q % len(decode)]
        shards = len(pg) * len(dg) // math.gcd(len(pg), len(dg))
        moves: dict[tuple[int, int], list[int]] = {}
        for s in range(shards):
            src, dst = pg[s * len(pg) // shards], dg[s * len(dg) // shards]
            b.hold(src, first + s, {src})
            b.want(dst, first + s, {src})
            moves.setdefault((src, dst), []).append(first + s)
        step = (q // len(prefill)) * blocks + blk  # the group's requests one after another
        for (src, dst), chunks in moves.items():
            b.send(step, src, dst, chunks, COPY)
    return b.build()


def kv_pool_read(readers: Sequence[int], pool: Sequence[int], blocks_per_reader: int,
                 block_bytes: int, request_bytes: int = 64) -> Schedule:
    """Readers fetch KV blocks striped over pool ranks: a small read request goes to the
    pool rank, which answers with the block (an RDMA READ as two WRITEs)."""
    if not readers or not pool or set(readers) & set(pool) or blocks_per_reader < 0:
        raise FabricTwinError("kv_pool_read: needs readers and pool ranks, disjoint")
    n = max([*readers, *pool]) + 1
    b = ScheduleBuilder("kv_pool_read", n, len(readers) * blocks_per_reader * block_bytes,
                [request_bytes, block_bytes] * (len(readers) * blocks_per_reader))
    for i, r in enumerate(readers):
        for k in range(blocks_per_reader):
            idx = i * blocks_per_reader + k
            req, blk, owner = 2 * idx, 2 * idx + 1, pool[idx % len(pool)]
            b.hold(r, req, {r})
            b.hold(owner, blk, {owner})
            b.want(owner, req, {r})
            b.want(r, blk, {owner})
            b.send(0, r, owner, (req,), COPY)
            b.send(1, owner, r, (blk,), COPY, after=(req,))
    return b.build()
