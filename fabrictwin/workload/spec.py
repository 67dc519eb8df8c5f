"""Workload files: a model and a training job or an inference service. Strict YAML.

Unknown keys, wrong types and impossible values are one line naming the key, e.g.
``examples/x.yaml: training.tp: must be positive, got 0`` (as scenario files).
Sizes are counts (layers, hidden size, ...); ``dtype`` is ``bf16`` or ``fp8``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabrictwin.errors import FabricTwinError
from fabrictwin.hardware.schema import FieldError, build, positive, read_yaml, spec
from fabrictwin.units import parse_rate_bps, parse_size_bytes

DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp8": 1}
SHIPPED_DIR = Path(__file__).with_name("examples")


def _positive(obj: object, *names: str) -> None:
    for name in names:
        positive(name, getattr(obj, name))


def _not_negative(obj: object, *names: str) -> None:
    for name in names:
        if getattr(obj, name) < 0:
            raise FieldError(name, f"must not be negative, got {getattr(obj, name)}")


@dataclass(frozen=True)
class ModelConfig:
    """A decoder-only transformer: dense or MoE, GQA or MLA attention."""

    layers: int
    hidden: int
    heads: int
    ffn: int = spec(doc="FFN (SwiGLU) width of dense layers")
    vocab: int
    kv_heads: int = spec(doc="key/value heads (GQA); 0 = heads (MHA)", default=0)
    head_dim: int = spec(doc="per-head dimension; 0 = hidden / heads", default=0)
    dtype: str = "bf16"
    tied_embeddings: bool = False
    gated_ffn: bool = spec(doc="SwiGLU FFN (3 matrices); false: GELU MLP (2)", default=True)
    # MoE: experts > 0 makes every layer but the first dense_layers an MoE layer
    experts: int = 0
    top_k: int = 0
    shared_experts: int = 0
    expert_ffn: int = 0
    dense_layers: int = 0
    # MLA (DeepSeek-V2/V3): kv_lora_rank > 0 replaces GQA
    kv_lora_rank: int = 0
    q_lora_rank: int = 0
    rope_dim: int = spec(doc="decoupled RoPE key dimension of MLA", default=0)
    v_head_dim: int = spec(doc="MLA value head dimension; 0 = head_dim", default=0)

    def __post_init__(self) -> None:
        _positive(self, "layers", "hidden", "heads", "ffn", "vocab")
        _not_negative(self, "kv_heads", "head_dim", "experts", "top_k", "shared_experts",
                      "expert_ffn", "dense_layers", "kv_lora_rank", "q_lora_rank", "rope_dim",
                      "v_head_dim")
        if self.dtype not in DTYPE_BYTES:
            raise FieldError("dtype", f"expected one of {', '.join(DTYPE_BYTES)}, "
                             f"got {self.dtype!r}")
        if self.kv_heads and self.heads % self.kv_heads:
            raise FieldError("kv_heads", f"{self.kv_heads} does not divide heads {self.heads}")
        if not self.head_dim and self.hidden % self.heads:
            raise FieldError("head_dim", f"give it: heads {self.heads} do not divide hidden "
                             f"{self.hidden}")
        if self.experts:
            if not 1 <= self.top_k <= self.experts:
                raise FieldError("top_k", f"must be 1..experts ({self.experts}), "
                                 f"got {self.top_k}")
            if not self.expert_ffn:
                raise FieldError("expert_ffn", "required with experts")
            if self.dense_layers >= self.layers:
                raise FieldError("dense_layers", f"must be below layers ({self.layers})")
        elif self.top_k or self.shared_experts or self.expert_ffn:
            raise FieldError("experts", "required with top_k, shared_experts or expert_ffn")

    @property
    def dim(self) -> int:
        """Per-head dimension (MLA: of the non-RoPE part)."""
        return self.head_dim or self.hidden // self.heads

    @property
    def mla(self) -> bool:
        return self.kv_lora_rank > 0

    @property
    def dtype_bytes(self) -> int:
        return DTYPE_BYTES[self.dtype]


@dataclass(frozen=True)
class Training:
    """Parallelism (Megatron style: TP x PP x DP GPUs, EP inside DP) and batch."""

    tp: int
    pp: int
    dp: int
    micro_batch: int = spec(doc="sequences per micro-batch")
    global_batch: int = spec(doc="sequences per optimizer step")
    seq_len: int
    ep: int = 1
    efficiency: float = spec(doc="fraction of peak FLOP/s the kernels reach", default=0.5)
    bucket_bytes: int = spec(parse_size_bytes, "gradient bucket (the last is exposed)",
                             default=100_000_000)
    recompute: str = spec(doc="activation recomputation: none, selective or full",
                          default="none")
    virtual_stages: int = spec(doc="interleaved 1F1B model chunks per stage", default=1)

    def __post_init__(self) -> None:
        _positive(self, "tp", "pp", "dp", "micro_batch", "global_batch", "seq_len", "ep",
                  "bucket_bytes", "virtual_stages")
        if self.recompute not in ("none", "selective", "full"):
            raise FieldError("recompute", f"expected none, selective or full, got "
                             f"{self.recompute!r}")
        if self.virtual_stages > 1 and self.pp < 2:
            raise FieldError("virtual_stages", "needs pp > 1")
        if not 0 < self.efficiency <= 1:
            raise FieldError("efficiency", f"must be in (0, 1], got {self.efficiency}")
        if self.global_batch % (self.dp * self.micro_batch):
            raise FieldError("global_batch", f"{self.global_batch} is not a multiple of "
                             f"dp x micro_batch = {self.dp * self.micro_batch}")
        if (self.dp * self.tp) % self.ep:
            raise FieldError("ep", f"{self.ep} does not divide dp x tp = {self.dp * self.tp}")

    @property
    def gpus(self) -> int:
        return self.tp * self.pp * self.dp

    @property
    def microbatches(self) -> int:
        return self.global_batch // (self.dp * self.micro_batch)


@dataclass(frozen=True)
class Lengths:
    """A token-length distribution: ``fixed``, ``uniform`` (min..max) or ``lognormal``."""

    mean: float
    dist: str = "lognormal"
    sigma: float = spec(doc="lognormal: sigma of log(length)", default=0.5)
    min: int = 1
    max: int = 1_000_000

    def __post_init__(self) -> None:
        _positive(self, "mean", "sigma", "min", "max")
        if self.dist not in ("fixed", "uniform", "lognormal"):
            raise FieldError("dist", f"expected fixed, uniform or lognormal, got {self.dist!r}")
        if not self.min <= self.mean <= self.max:
            raise FieldError("mean", f"must be within min..max ({self.min}..{self.max})")


def _read_lengths(value: Any, what: str) -> Lengths:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return build(Lengths, {"mean": value, "dist": "fixed"}, what)
    return build(Lengths, value, what)


@dataclass(frozen=True)
class Pool:
    """Instances of one role and the GPUs of each (tensor parallel)."""

    instances: int
    tp: int = 8

    def __post_init__(self) -> None:
        _positive(self, "instances", "tp")


@dataclass(frozen=True)
class KVPool:
    """A shared KV-cache pool (Mooncake): prefix hits load instead of recomputing."""

    capacity_bytes: int = spec(parse_size_bytes, "pool capacity")
    hit_rate: float = spec(doc="fraction of prompt tokens found in the pool")
    bandwidth_bps: float = spec(parse_rate_bps, "pool read bandwidth per instance")
    tier: str = "cpu"  # cpu (host DRAM), ssd or remote: reported, not modelled apart

    def __post_init__(self) -> None:
        _positive(self, "capacity_bytes", "bandwidth_bps")
        if not 0 <= self.hit_rate < 1:
            raise FieldError("hit_rate", f"must be in [0, 1), got {self.hit_rate}")
        if self.tier not in ("cpu", "ssd", "remote"):
            raise FieldError("tier", f"expected cpu, ssd or remote, got {self.tier!r}")


@dataclass(frozen=True)
class SLO:
    ttft_ms: float
    tpot_ms: float

    def __post_init__(self) -> None:
        _positive(self, "ttft_ms", "tpot_ms")


def _pool(value: Any, what: str) -> Pool:
    return build(Pool, value, what)


@dataclass(frozen=True)
class Inference:
    """A serving deployment: colocated, or prefill/decode separated (PD)."""

    prompt: Lengths = spec(_read_lengths, "prompt tokens per request")
    output: Lengths = spec(_read_lengths, "output tokens per request")
    slo: SLO
    deployment: str = "colocated"
    arrival_rate: float = spec(doc="requests per second (Poisson); or give concurrency",
                               default=0.0)
    concurrency: int = spec(doc="requests in flight (closed loop)", default=0)
    colocated: Pool | None = spec(_pool, default=None)
    prefill: Pool | None = spec(_pool, default=None)
    decode: Pool | None = spec(_pool, default=None)
    kv_pool: KVPool | None = spec(lambda v, what: build(KVPool, v, what), default=None)
    efficiency: float = spec(doc="fraction of peak FLOP/s (prefill)", default=0.5)
    memory_efficiency: float = spec(doc="fraction of HBM bandwidth (decode)", default=0.8)
    requests: int = spec(doc="requests sampled from the distributions", default=2000)
    seed: int = 0

    def __post_init__(self) -> None:
        _not_negative(self, "arrival_rate", "concurrency")
        _positive(self, "requests")
        if (self.arrival_rate > 0) == (self.concurrency > 0):
            raise FieldError("arrival_rate", "give exactly one of arrival_rate or concurrency")
        for key in ("efficiency", "memory_efficiency"):
            if not 0 < getattr(self, key) <= 1:
                raise FieldError(key, f"must be in (0, 1], got {getattr(self, key)}")
        if self.deployment == "colocated":
            if self.colocated is None:
                raise FieldError("colocated", "required with deployment: colocated")
        elif self.deployment == "pd":
            for key in ("prefill", "decode"):
                if getattr(self, key) is None:
                    raise FieldError(key, "required with deployment: pd")
        else:
            raise FieldError("deployment", f"expected colocated or pd, got {self.deployment!r}")
        if self.kv_pool is not None and self.deployment != "pd":
            raise FieldError("kv_pool", "needs deployment: pd")


@dataclass(frozen=True)
class SystemChoice:
    """The default hardware to run the workload on (the command's --system overrides)."""

    name: str = "dgx-h100"
    nodes: int = 0  # 0: as many as the job needs
    switch: str = "tomahawk5-51t2"

    def __post_init__(self) -> None:
        _not_negative(self, "nodes")


@dataclass(frozen=True)
class Workload:
    name: str
    model: ModelConfig
    description: str = ""
    system: SystemChoice = spec(lambda v, what: build(SystemChoice, v, what),
                                default=SystemChoice())
    training: Training | None = spec(lambda v, what: build(Training, v, what), default=None)
    inference: Inference | None = spec(lambda v, what: build(Inference, v, what), default=None)

    def __post_init__(self) -> None:
        if (self.training is None) == (self.inference is None):
            raise FieldError("training", "give exactly one of training or inference")
        if self.training and self.training.ep > 1 and not self.model.experts:
            raise FieldError("training.ep", "expert parallelism needs model.experts")


def load_workload(path: str | Path) -> Workload:
    """Read and check a workload file (a path, or the name of a shipped example)."""
    p = Path(path)
    if not p.suffix and not p.exists() and (SHIPPED_DIR / f"{p}.yaml").is_file():
        p = SHIPPED_DIR / f"{p}.yaml"
    data = read_yaml(p)
    try:
        return build(Workload, data)
    except FabricTwinError as exc:
        raise FabricTwinError(f"{p}: {exc}") from None
