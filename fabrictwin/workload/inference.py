"""Serving: TTFT and TPOT over the length distributions, throughput and goodput at the SLO.

Rooflines from the GPU profile, per instance of ``tp`` GPUs:

- prefill of P new tokens: ``max(P x F(P/2) / (tp x peak x eff), weights / HBM)`` plus
  2 TP all-reduces per layer of ``P h`` bytes (F: forward FLOPs per token attending to
  the causal average of P/2 keys, :mod:`.flops`). With a KV pool, a fraction ``hit`` of
  the prompt is loaded at the pool's bandwidth instead, overlapped layer by layer
  (Mooncake, FAST 2025): ``max(compute of the rest, load)``.
- decode step of a batch B at mean context C, a roofline per kernel class summed, since
  the weight GEMMs and the attention kernels run one after the other (as per-operator
  simulators such as Vidur, MLSys 2024, cost them): ``max(weights / HBM', B F(0) / P') +
  max(B C kv / HBM', B (F(C) - F(0)) / P')`` with ``HBM' = tp x HBM x mem_eff`` and
  ``P' = tp x peak x eff``, plus 2 TP all-reduces per layer of ``B h``. (One roofline over
  the sums would let the GEMMs' compute hide the KV reads, which no kernel does.)

Queueing (a simple stated model, not a simulation of the scheduler): Poisson arrivals
split evenly over instances; the decode batch is Little's law ``B = lambda E[O] step(B)``
(solved by iteration; no fixed point or a KV cache beyond HBM = overloaded); prefills
queue as M/G/1 (Pollaczek-Khinchine mean wait; a request waits with probability rho,
exponentially). Colocated instances interleave the two (DistServe, OSDI 2024): decode
steps stretch by the prefills arriving during a request's decode (Poisson), and a
prefill waits half a decode step. PD (DistServe; Splitwise, ISCA 2024) adds the KV
transfer, ``P x kv bytes`` split over the tp GPUs, as
:func:`fabrictwin.model.predict` ``sendrecv`` between the two instances (scale-up when
both fit one hyper-node, else scale-out), not overlapped with prefill.

Goodput is the output-token rate of requests meeting both SLOs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fabrictwin.model import predict
from fabrictwin.workload.cluster import Cluster
from fabrictwin.workload.flops import forward_flops_per_token, kv_bytes_per_token, weight_bytes
from fabrictwin.workload.spec import Lengths, ModelConfig

MAX_BATCH = 4096


def sample(lengths: Lengths, n: int, rng: np.random.Generator) -> np.ndarray:
    if lengths.dist == "fixed":
        x = np.full(n, lengths.mean)
    elif lengths.dist == "uniform":
        x = rng.uniform(lengths.min, lengths.max, n)
    else:  # lognormal with the given mean
        mu = np.log(lengths.mean) - lengths.sigma ** 2 / 2
        x = rng.lognormal(mu, lengths.sigma, n)
    return np.clip(np.round(x), lengths.min, lengths.max)


@dataclass(frozen=True)
class Roofline:
    """Prefill and decode times of one instance of ``tp`` GPUs."""

    m: ModelConfig
    cluster: Cluster
    tp: int
    eff: float
    mem_eff: float

    def _ar(self, size: np.ndarray) -> np.ndarray:
        if self.tp < 2:
            return np.zeros_like(size)
        return predict(self.cluster.group(self.tp, 1), "all_reduce", np.maximum(size, 1)).time_s

    def prefill_s(self, prompt: np.ndarray, hit: float = 0.0, pool_Bps: float = 0.0) -> np.ndarray:
        m, gpu = self.m, self.cluster.hn.gpu
        new = prompt * (1 - hit)
        flops = new * np.array([forward_flops_per_token(m, c) for c in prompt / 2])
        compute = flops / (self.tp * self.cluster.check_peak(m.dtype) * self.eff)
        weights = weight_bytes(m) / (self.tp * gpu.hbm_rate_bps / 8)
        load = prompt * hit * kv_bytes_per_token(m) / pool_Bps if hit else 0.0
        comm = 2 * m.layers * self._ar(new * m.hidden * m.dtype_bytes)
        return np.maximum(np.maximum(compute, weights), load) + comm

    def decode_step_s(self, batch: float, context: float) -> float:
        m, gpu = self.m, self.cluster.hn.gpu
        hbm = self.tp * gpu.hbm_rate_bps / 8 * self.mem_eff
        flops = self.tp * self.cluster.check_peak(m.dtype) * self.eff
        linear = forward_flops_per_token(m, 0)
        attention = forward_flops_per_token(m, context) - linear
        # the weight GEMMs and the attention kernels run one after the other
        gemm = max(weight_bytes(m) / hbm, batch * linear / flops)
        attend = max(batch * context * kv_bytes_per_token(m) / hbm, batch * attention / flops)
        comm = 2 * m.layers * float(self._ar(np.array([batch * m.hidden * m.dtype_bytes]))[0])
        return gemm + attend + comm

    def max_batch(self, context: float) -> float:
        free = self.tp * self.cluster.hn.gpu.memory_bytes - weight_bytes(self.m)
        return max(free, 0) / (context * kv_bytes_per_token(self.m))


def _decode_batch(r: Roofline, rate: float, out_mean: float, context: float,
                  stretch: float) -> tuple[float, float] | None:
    """(batch, step) with ``B = rate x E[O] x step(B) x stretch``; None when overloaded."""
    b = 1.0
    for _ in range(200):
        step = r.decode_step_s(b, context) * stretch
        new = max(rate * out_mean * step, 1.0)
        if new > min(MAX_BATCH, r.max_batch(context)):
            return None
        if abs(new - b) < 1e-6 * b:
            break
        b = new
    return b, r.decode_step_s(b, context) * stretch
