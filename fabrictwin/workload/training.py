"""One training step: compute at a stated fraction of peak, communication from the model.

Per micro-batch and pipeline stage (``L/pp`` layers; Megatron-LM placement, see
:mod:`.cluster`):

- compute: ``(flops_per_token + recompute) x tokens / (tp x peak x efficiency)``
  (:mod:`.flops`; recomputation adds hardware FLOPs, MFU counts model FLOPs only);
- TP: 4 all-reduces per layer (2 forward, 2 backward) of ``b s h`` activations on the
  TP group, fully exposed (Narayanan et al., SC 2021, section 3.2 / Shoeybi et al. 2019);
- EP: 4 all-to-alls per MoE layer (dispatch and combine, forward and backward) of
  ``b s k h`` bytes per rank, fully exposed (no DualPipe-style overlap modelled).

Step (1F1B schedule, Narayanan et al. 2021, section 2.2.1: bubble ``(pp-1)/m``; the
interleaved schedule with ``v`` model chunks per stage, section 2.2.2, divides the
bubble by ``v``)::

    step = (m + (pp - 1) / v) t_mb + PP exposed + DP exposed

- PP: ``2 (pp - 1)`` activation/gradient send/recvs of ``b s h`` on the critical path
  (pipeline fill and drain); steady-state ones overlap compute.
- DP (distributed optimizer): reduce-scatter of the gradients and all-gather of the
  parameters of one stage's TP shard over the DP group, overlapped with the last
  micro-batch's backward and the next step's first forward (``t_mb``), except the
  last bucket: ``exposed = max(T_dp - t_mb, T_bucket)``.

Every collective's time is :func:`fabrictwin.model.predict` on the group's system; its
exposed time is charged to the tier the model names as the bottleneck.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass

from fabrictwin.model import System, predict
from fabrictwin.workload.cluster import Cluster
from fabrictwin.workload.flops import params, recompute_flops_per_token, training_flops_per_token
from fabrictwin.workload.power import power
from fabrictwin.workload.spec import Workload

log = logging.getLogger(__name__)
GRAD_BYTES = 2  # bf16 gradients and parameters on the wire


@dataclass(frozen=True)
class TrainingResult:
    gpus: int
    nodes: int
    step_time_s: float
    tokens_per_s: float
    mfu: float
    compute_s: float
    bubble_s: float
    comm_exposed_s: dict[str, float]
    comm_by_phase_s: dict[str, float]
    power_w: float
    energy_per_step_j: float
    tokens_per_joule: float
    bottleneck: str

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def _time(system: System, collective: str, size: float) -> tuple[float, str]:
    if system.ranks < 2 or size <= 0:
        return 0.0, "scale-up"
    p = predict(system, collective, [size])
    return float(p.time_s[0]), str(p.bottleneck[0]) or "scale-up"


def train_step(w: Workload, cluster: Cluster) -> TrainingResult:
    """Step time, tokens/s, MFU, exposed communication per tier and energy of ``w``."""
    t, m = w.training, w.model
    assert t is not None
    gpus = t.gpus
    peak = cluster.check_peak(m.dtype)
    nodes = cluster.nodes_for(gpus)
    act = t.micro_batch * t.seq_len * m.hidden * m.dtype_bytes  # b s h bytes
    layers = m.layers / t.pp
    moe_layers = (m.layers - m.dense_layers) / t.pp if m.experts else 0.0
    tokens_mb = t.micro_batch * t.seq_len
    flops_tok = training_flops_per_token(m, t.seq_len)
    hw_tok = flops_tok + recompute_flops_per_token(m, t.seq_len, t.recompute)
    compute_mb = hw_tok * tokens_mb / (t.pp * t.tp * peak * t.efficiency)
    exposed: dict[str, float] = defaultdict(float)
    phase: dict[str, float] = {}

    tp_s, tp_tier = _time(cluster.group(t.tp, 1), "all_reduce", act)
    tp_mb = 4 * layers * tp_s
    ep_mb, ep_tier = 0.0, "scale-up"
    if moe_layers and t.ep > 1:
        a2a, ep_tier = _time(cluster.group(t.ep, t.tp * t.pp if t.ep > 1 else 1), "alltoall",
                             act * m.top_k)
        ep_mb = 4 * moe_layers * a2a
    t_mb = compute_mb + tp_mb + ep_mb
    mbs = t.microbatches
    slots = mbs + (t.pp - 1) / t.virtual_stages  # micro-batch times on the critical path
    pp_s, pp_tier = _time(cluster.group(2, t.tp), "sendrecv", act) if t.pp > 1 else (0.0, "")
    pp_exposed = 2 * (t.pp - 1) * pp_s
    # DP: one stage's TP shard of parameters (MoE: experts are sharded over EP, not DP)
    p = params(m)
    shard = (p.total - p.embedding) / (t.pp * t.tp) + p.embedding / (t.tp * t.pp)
    if m.experts and t.ep > 1:
        expert_params = (m.layers - m.dense_layers) * (p.moe_ffn - m.hidden * m.experts)
        shard -= expert_params * (1 - 1 / t.ep) / (t.pp * t.tp)
    grad = shard * GRAD_BYTES
    dp_sys = cluster.group(t.dp, t.tp * t.pp)
    rs, dp_tier = _time(dp_sys, "reduce_scatter", grad)
    ag, _ = _time(dp_sys, "all_gather", grad)
    bucket = min(float(t.bucket_bytes), grad)
    rs_b, _ = _time(dp_sys, "reduce_scatter", bucket)
    ag_b, _ = _time(dp_sys, "all_gather", bucket)
    # sharing the fabric with other jobs, as an emulated run measured (1 if not given)
    rs, ag, rs_b, ag_b = (x * cluster.slowdown("dp") for x in (rs, ag, rs_b, ag_b))
    dp_exposed = max(rs + ag - t_mb, rs_b + ag_b) if t.dp > 1 else 0.0

    exposed[tp_tier] += slots * tp_mb if t.tp > 1 else 0.0
    if ep_mb:
        exposed[ep_tier] += slots * ep_mb
    if pp_exposed:
        exposed[pp_tier] += pp_exposed
    if dp_exposed:
        exposed[dp_tier] += dp_exposed
    phase.update(tp=slots * tp_mb, ep=slots * ep_mb, pp=pp_exposed,
                 dp=dp_exposed, dp_total=rs + ag)
    step = slots * t_mb + pp_exposed + dp_exposed
    tokens = t.global_batch * t.seq_len
    model_flops = flops_tok * tokens
    pw = power(cluster, gpus)
    energy = pw.total_w * step
    compute = mbs * compute_mb
    bubble = (t.pp - 1) / t.virtual_stages * t_mb
    parts = {"compute": compute, "pipeline bubble": bubble, **exposed}
    log.info("step %.3f s: compute %.3f, bubble %.3f, exposed %s", step, compute, bubble,
             dict(exposed))
    return TrainingResult(
        gpus=gpus, nodes=nodes, step_time_s=step, tokens_per_s=tokens / step,
        mfu=model_flops / (step * gpus * peak), compute_s=compute, bubble_s=bubble,
        comm_exposed_s={k: v for k, v in exposed.items() if v > 0},
        comm_by_phase_s=phase, power_w=pw.total_w, energy_per_step_j=energy,
        tokens_per_joule=tokens / energy if energy else 0.0,
        bottleneck=max(parts, key=lambda k: parts[k]))
