"""Parameters, FLOPs per token and KV-cache bytes per token of a model config.

Parameters (SwiGLU FFN: three h x f matrices; no biases or norms, < 0.01%):

- GQA attention per layer: ``h x (H d) + 2 h x (K d) + (H d) x h`` (q, k, v, o; H heads,
  K KV heads, d head dim);
- MLA attention per layer (DeepSeek-V2/V3): ``h x r_q + r_q x H (d + d_r)`` (query down/up;
  ``h x H (d + d_r)`` without ``q_lora_rank``) ``+ h x (r_kv + d_r) + r_kv x H (d + d_v)
  + H d_v x h``;
- FFN: dense ``3 h f``; MoE ``(E + S) 3 h f_e + h E`` (E routed, S shared experts, router),
  of which ``(k + S) 3 h f_e`` are active per token; an ungated (GELU) MLP, as GPT-3, OPT,
  MPT and GPT-J use, has two ``h x f`` matrices, ``2 h f`` (``gated_ffn: false``);
- embeddings ``V h``, twice unless tied (input table and output head).

Training FLOPs per token (Narayanan et al., SC 2021, eq. 3; Kaplan et al. 2020, 2.1;
Chowdhery et al. 2022, PaLM appendix B for the attention term)::

    6 N_active + 6 L H T (d_qk + d_v)

where N_active excludes the input embedding (a lookup) and counts the output head,
and T is the sequence length (full, not causal-halved, as PaLM's MFU counts it);
for standard attention ``d_qk = d_v = d`` gives PaLM's ``12 L H d T``. Inference
forward FLOPs are a third of that.

Activation recomputation adds hardware FLOPs but no model FLOPs (Korthikanti et al.,
MLSys 2023, section 5 and appendix A): ``full`` recomputes every layer's forward,
``2 N_layers + 2 L H T (d_qk + d_v)`` per token (the output head is not recomputed);
``selective`` recomputes only the attention core (``Q K^T``, softmax, attention over V),
``2 L H T (d_qk + d_v)``.

KV-cache bytes per token (one copy of the whole model):
GQA ``2 L K d x bytes``; MLA ``L (r_kv + d_r) x bytes`` (the compressed latent and the
RoPE key are all MLA caches, DeepSeek-V2 section 2.1.3).
"""

from __future__ import annotations

from dataclasses import dataclass

from fabrictwin.workload.spec import ModelConfig


@dataclass(frozen=True)
class Params:
    """Parameter counts: total, active per token, and the embedding tables."""

    attention: int  # per layer
    dense_ffn: int  # per dense layer
    moe_ffn: int    # per MoE layer, all experts
    moe_active: int  # per MoE layer, routed top-k + shared
    embedding: int  # input table + output head
    total: int
    active: int


def attention_params(m: ModelConfig) -> int:
    h, heads, d = m.hidden, m.heads, m.dim
    if m.mla:
        dv = m.v_head_dim or d
        qk = heads * (d + m.rope_dim)
        q = h * m.q_lora_rank + m.q_lora_rank * qk if m.q_lora_rank else h * qk
        kv = h * (m.kv_lora_rank + m.rope_dim) + m.kv_lora_rank * heads * (d + dv)
        return q + kv + heads * dv * h
    kv_heads = m.kv_heads or heads
    return 2 * h * heads * d + 2 * h * kv_heads * d


def params(m: ModelConfig) -> Params:
    """Parameter counts of ``m``.

    >>> from fabrictwin.workload.spec import ModelConfig
    >>> p = params(ModelConfig(layers=2, hidden=8, heads=2, ffn=16, vocab=10))
    >>> p.attention, p.dense_ffn, p.embedding, p.total
    (256, 384, 160, 1440)
    """
    attn = attention_params(m)
    mats = 3 if m.gated_ffn else 2
    dense = mats * m.hidden * m.ffn
    moe = moe_active = 0
    moe_layers = 0
    if m.experts:
        per_expert = mats * m.hidden * m.expert_ffn
        moe = (m.experts + m.shared_experts) * per_expert + m.hidden * m.experts
        moe_active = (m.top_k + m.shared_experts) * per_expert + m.hidden * m.experts
        moe_layers = m.layers - m.dense_layers
    dense_layers = m.layers - moe_layers
    embedding = m.vocab * m.hidden * (1 if m.tied_embeddings else 2)
    body = m.layers * attn + dense_layers * dense
    return Params(attention=attn, dense_ffn=dense, moe_ffn=moe, moe_active=moe_active,
                  embedding=embedding, total=body + moe_layers * moe + embedding,
                  active=body + moe_layers * moe_active + embedding)


def training_flops_per_token(m: ModelConfig, seq_len: int) -> float:
    """Forward + backward FLOPs per token: ``6 N_active + 6 L H T (d_qk + d_v)``.

    >>> from fabrictwin.workload.spec import ModelConfig
    >>> m = ModelConfig(layers=2, hidden=8, heads=2, ffn=16, vocab=10)
    >>> training_flops_per_token(m, 4)  # 6 (1440 - 80) + 6 x 2 x 2 x 4 x (4 + 4)
    8928.0
    """
    p = params(m)
    head_output = m.vocab * m.hidden
    n = p.active - p.embedding + head_output  # the input lookup costs no FLOPs
    d_qk, d_v = (m.dim + m.rope_dim, m.v_head_dim or m.dim) if m.mla else (m.dim, m.dim)
    return 6.0 * n + 6.0 * m.layers * m.heads * seq_len * (d_qk + d_v)


RECOMPUTE = ("none", "selective", "full")


def recompute_flops_per_token(m: ModelConfig, seq_len: int, mode: str) -> float:
    """Hardware FLOPs per token that activation recomputation ``mode`` adds.

    >>> from fabrictwin.workload.spec import ModelConfig
    >>> m = ModelConfig(layers=2, hidden=8, heads=2, ffn=16, vocab=10)
    >>> recompute_flops_per_token(m, 4, "selective")  # 2 x 2 x 2 x 4 x (4 + 4)
    256.0
    >>> recompute_flops_per_token(m, 4, "full")  # + 2 x (1440 - 160)
    2816.0
    """
    if mode == "none":
        return 0.0
    d_qk, d_v = (m.dim + m.rope_dim, m.v_head_dim or m.dim) if m.mla else (m.dim, m.dim)
    attention_core = 2.0 * m.layers * m.heads * seq_len * (d_qk + d_v)
    if mode == "selective":
        return attention_core
    p = params(m)
    return attention_core + 2.0 * (p.active - p.embedding)


def forward_flops_per_token(m: ModelConfig, context: float) -> float:
    """Forward FLOPs of one token attending to ``context`` tokens (inference)."""
    p = params(m)
    n = p.active - p.embedding + m.vocab * m.hidden
    d_qk, d_v = (m.dim + m.rope_dim, m.v_head_dim or m.dim) if m.mla else (m.dim, m.dim)
    return 2.0 * n + 2.0 * m.layers * m.heads * context * (d_qk + d_v)


def kv_bytes_per_token(m: ModelConfig) -> int:
    """KV-cache bytes one token adds (all layers, one copy).

    >>> from fabrictwin.workload.spec import ModelConfig
    >>> kv_bytes_per_token(ModelConfig(layers=80, hidden=8192, heads=64, kv_heads=8,
    ...                                ffn=28672, vocab=128256))  # 2 x 80 x 8 x 128 x 2
    327680
    """
    if m.mla:
        return m.layers * (m.kv_lora_rank + m.rope_dim) * m.dtype_bytes
    return 2 * m.layers * (m.kv_heads or m.heads) * m.dim * m.dtype_bytes


def weight_bytes(m: ModelConfig) -> int:
    """Bytes of all weights at the model's dtype."""
    return params(m).total * m.dtype_bytes
