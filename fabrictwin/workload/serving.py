"""A deployment's serving figures (the model in :mod:`.inference`): one instance type
per role, requests sampled once (seeded), colocated or PD, and PD's colocated baseline
on the same GPUs."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np

from fabrictwin.model import predict
from fabrictwin.workload.cluster import Cluster
from fabrictwin.workload.flops import kv_bytes_per_token
from fabrictwin.workload.inference import Roofline, _decode_batch, sample
from fabrictwin.workload.power import power
from fabrictwin.workload.spec import Inference, Pool, Workload

log = logging.getLogger(__name__)
SWEEP_GBPS = (25, 50, 100, 200, 400, 800, 1600)


@dataclass(frozen=True)
class Requests:
    prompt: np.ndarray
    output: np.ndarray
    rng_seed: int


def _wait(rho: float, mean_wait: float, n: int, rng: np.random.Generator) -> np.ndarray:
    waiting = rng.random(n) < rho
    return np.where(waiting, rng.exponential(mean_wait / max(rho, 1e-12), n), 0.0)


def evaluate(w: Workload, cluster: Cluster, rate: float, deployment: str) -> dict[str, object]:
    """Serving figures at ``rate`` requests/s for ``deployment`` (colocated or pd)."""
    inf = w.inference
    assert inf is not None
    m, rng = w.model, np.random.default_rng(inf.seed)
    prompt, out = sample(inf.prompt, inf.requests, rng), sample(inf.output, inf.requests, rng)
    kvb = kv_bytes_per_token(m)
    ctx = float(prompt.mean() + out.mean() / 2)
    co = inf.colocated or Pool(instances=_gpus(inf) // inf.decode.tp, tp=inf.decode.tp)
    pre, dec = (inf.prefill, inf.decode) if deployment == "pd" else (co, co)
    rp = Roofline(m, cluster, pre.tp, inf.efficiency, inf.memory_efficiency)
    rd = Roofline(m, cluster, dec.tp, inf.efficiency, inf.memory_efficiency)
    pool = inf.kv_pool if deployment == "pd" else None
    s = rp.prefill_s(prompt, pool.hit_rate if pool else 0.0, pool.bandwidth_bps / 8 if pool
                     else 0.0)
    lam_p = rate / pre.instances
    rho = lam_p * float(s.mean())
    kv_t = np.zeros_like(prompt)
    kv_gbps = 0.0
    if deployment == "pd":
        pair = cluster.group(2, pre.tp)
        kv_t = predict(pair, "sendrecv", prompt * kvb / pre.tp).time_s \
            * cluster.slowdown("kv_transfer")
        kv_gbps = float((prompt * kvb).sum() / kv_t.sum() / 1e9)
    rho_kv = lam_p * float(kv_t.mean())
    stretch = 1.0 / (1.0 - rho) if deployment == "colocated" and rho < 1 else 1.0
    batch = _decode_batch(rd, rate / dec.instances, float(out.mean()), ctx, stretch) \
        if rho < 1 and rho_kv < 1 else None
    gpus = pre.instances * pre.tp + (dec.instances * dec.tp if deployment == "pd" else 0)
    pw = power(cluster, gpus).total_w if gpus >= cluster.hn.gpus else \
        gpus * cluster.hn.gpu.power_w
    base = {"deployment": deployment, "gpus": gpus, "arrival_rate": rate,
            "kv_bytes_per_token": kvb, "kv_transfer_GBps": kv_gbps,
            "kv_transfer_ms_p50": float(np.median(kv_t) * 1e3), "power_w": pw}
    if batch is None:
        log.info("%s overloaded at %.3g req/s (prefill rho %.2f)", deployment, rate, rho)
        return {**base, "overloaded": True, "throughput_tokens_per_s": 0.0,
                "goodput_tokens_per_s": 0.0, "ttft_ms_p50": None, "ttft_ms_p99": None,
                "tpot_ms_p50": None, "tpot_ms_p99": None, "ttft_ms_mean": None,
                "tpot_ms_mean": None, "tokens_per_joule": 0.0,
                "slo_attainment": 0.0, "decode_batch": None}
    b, step = batch
    mean_wait = lam_p * float((s ** 2).mean()) / (2 * (1 - rho))
    ttft = s + _wait(rho, mean_wait, len(s), rng) + kv_t
    if deployment == "colocated":
        ttft = ttft + step / 2
        # prefills landing in a request's decode stretch its tokens (Poisson count)
        span = out * step
        count = rng.poisson(lam_p * span)
        stolen = count * float(s.mean())
        tpot = (out * step / stretch + stolen) / out
    else:
        tpot = np.full_like(out, step)
    ok = (ttft * 1e3 <= inf.slo.ttft_ms) & (tpot * 1e3 <= inf.slo.tpot_ms)
    thr = rate * float(out.mean())
    good = rate * float((out * ok).mean())
    return {**base, "overloaded": False, "throughput_tokens_per_s": thr,
            "goodput_tokens_per_s": good, "slo_attainment": float(ok.mean()),
            "ttft_ms_p50": float(np.percentile(ttft, 50) * 1e3),
            "ttft_ms_p99": float(np.percentile(ttft, 99) * 1e3),
            "tpot_ms_p50": float(np.percentile(tpot, 50) * 1e3),
            "tpot_ms_p99": float(np.percentile(tpot, 99) * 1e3),
            "ttft_ms_mean": float(ttft.mean() * 1e3), "tpot_ms_mean": float(tpot.mean() * 1e3),
            "tokens_per_joule": thr / pw if pw else 0.0, "decode_batch": b}


def _gpus(inf: Inference) -> int:
    if inf.deployment == "pd":
        return inf.prefill.instances * inf.prefill.tp + inf.decode.instances * inf.decode.tp
    return inf.colocated.instances * inf.colocated.tp


def serve(w: Workload, cluster: Cluster) -> dict[str, object]:
    """The deployment's figures; for PD also its colocated baseline, the ratio and a sweep
    of NIC bandwidth showing where the KV transfer starts to limit it."""
    inf = w.inference
    assert inf is not None
    rate = inf.arrival_rate or _closed_loop(w, cluster, inf.concurrency)
    result = evaluate(w, cluster, rate, inf.deployment)
    if inf.deployment != "pd":
        return result
    base = evaluate(w, cluster, rate, "colocated")
    result["colocated"] = base
    gb = base["goodput_tokens_per_s"]
    result["speedup_vs_colocated"] = result["goodput_tokens_per_s"] / gb if gb else None
    sweep = []
    for gbps in SWEEP_GBPS:
        c = replace(cluster, nic_rate_bps=gbps * 1e9)
        r = evaluate(w, c, rate, "pd")
        sweep.append({"nic_gbps": gbps, "kv_transfer_ms_p50": r["kv_transfer_ms_p50"],
                      "ttft_ms_p50": r["ttft_ms_p50"],
                      "goodput_tokens_per_s": r["goodput_tokens_per_s"]})
    best = max(row["goodput_tokens_per_s"] for row in sweep)
    enough = [row["nic_gbps"] for row in sweep if row["goodput_tokens_per_s"] >= 0.95 * best]
    result["bandwidth_sweep"] = sweep
    result["kv_limits_below_gbps"] = min(enough) if best > 0 else None
    return result


def _closed_loop(w: Workload, cluster: Cluster, concurrency: int) -> float:
    """Arrival rate of ``concurrency`` requests in flight: rate = C / E[latency]."""
    inf = w.inference
    assert inf is not None
    rate, feasible = 0.1, 0.0
    for _ in range(40):
        r = evaluate(w, cluster, rate, inf.deployment)
        if r["overloaded"]:
            rate *= 0.7
            continue
        feasible = max(feasible, rate)
        out = float(inf.output.mean)
        latency = (r["ttft_ms_p50"] + out * r["tpot_ms_p50"]) / 1e3
        rate = 0.5 * rate + 0.5 * concurrency / latency
    # more requests in flight than the deployment sustains: it runs saturated
    return rate if not evaluate(w, cluster, rate, inf.deployment)["overloaded"] else feasible
