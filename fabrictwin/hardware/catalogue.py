"""Hardware catalogue: frozen dataclasses for the parts of an AI factory.

Conventions: every rate is per direction of a full-duplex link, in bits per
second (``rate_bps``); NVIDIA's "1.8 TB/s per GPU" is bidirectional, i.e.
900 GB/s = 7.2e12 b/s per direction. Latencies are nanoseconds, sizes bytes.
Profiles are YAML files read by :mod:`fabrictwin.hardware.profiles`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from fabrictwin.errors import FabricTwinError
from fabrictwin.hardware.schema import (
    FieldError,
    positive,
    read_float,
    read_int_tuple,
    spec,
)
from fabrictwin.units import parse_latency_ns, parse_rate_bps, parse_size_bytes

#: Propagation delay of light in silica fibre, refractive index ~1.47: c/n = 2.04e8 m/s.
FIBRE_NS_PER_M = 4.9


_SI = {"": 1.0, "G": 1e9, "T": 1e12, "P": 1e15}


def parse_flops(value: object, what: str = "flops") -> float:
    """FLOP/s: a number, or a string with an SI prefix, e.g. ``989T``, ``2.25P``.

    >>> parse_flops("989T"), parse_flops(1.5e15)
    (989000000000000.0, 1500000000000000.0)
    """
    if isinstance(value, str):
        text = value.strip().removesuffix("FLOP/s").removesuffix("FLOPS").strip()
        scale = _SI.get(text[-1:]) if text[-1:].isalpha() else 1.0
        number = text[:-1] if text[-1:].isalpha() else text
        try:
            result = float(number) * (scale if scale is not None else float("nan"))
        except ValueError:
            result = float("nan")
        if not (result >= 0 and math.isfinite(result)):
            raise FabricTwinError(f"{what}: expected FLOP/s such as 989T or 2.25P, got {value!r}")
        return result
    return read_float(value, what)


def _not_negative(obj: object, *names: str) -> None:
    for name in names:
        if getattr(obj, name) < 0:
            raise FieldError(name, f"must not be negative, got {getattr(obj, name)}")


@dataclass(frozen=True)
class GPU:
    """An accelerator (or any endpoint) and its total scale-up bandwidth."""

    model: str
    rate_bps: float = spec(parse_rate_bps, "scale-up bandwidth per GPU, per direction")
    memory_bytes: int = spec(parse_size_bytes, "HBM capacity", default=0)
    # The two below feed the projection model's latency terms (fabrictwin.model).
    launch_latency_ns: float = spec(parse_latency_ns, "fixed cost of one collective call, "
                                    "kernel launch to completion", default=4000.0)
    sync_latency_ns: float = spec(parse_latency_ns, "time for a GPU to see a flag a peer "
                                  "wrote into its memory (polling load)", default=500.0)
    fence_latency_ns: float = spec(parse_latency_ns, "system-scope memory fence before a flag "
                                   "may follow data (Simple protocol)", default=2000.0)
    # NCCL's channels (one CTA each) at full size; fewer run for small messages (model.pipeline)
    channels: int = spec(doc="NCCL ring/tree channels (CTAs) per collective at full size",
                         default=32)
    nvls_channels: int = spec(doc="NCCL NVLink SHARP channels (NVLS_NCHANNELS)", default=16)
    # Compute, memory and power for the twin (fabrictwin.workload); 0 = not given.
    bf16_flops: float = spec(parse_flops, "peak dense BF16 tensor FLOP/s (no sparsity)",
                             default=0.0)
    fp8_flops: float = spec(parse_flops, "peak dense FP8 tensor FLOP/s (no sparsity); 0 = none",
                            default=0.0)
    hbm_rate_bps: float = spec(parse_rate_bps, "HBM bandwidth (bits/s; 3.35TB/s in YAML)",
                               default=0.0)
    power_w: float = spec(doc="board power (TDP), watts", default=0.0)

    def __post_init__(self) -> None:
        positive("rate_bps", self.rate_bps)
        positive("channels", self.channels)
        positive("nvls_channels", self.nvls_channels)
        _not_negative(self, "bf16_flops", "fp8_flops", "hbm_rate_bps", "power_w")


@dataclass(frozen=True)
class NIC:
    """A scale-out network interface (RoCEv2 RNIC)."""

    name: str
    rate_bps: float = spec(parse_rate_bps, "line rate per port, per direction")
    ports: int = 1
    latency_ns: float = spec(parse_latency_ns, "one-way NIC pipeline latency", default=0.0)
    mtu_bytes: int = spec(parse_size_bytes, "Ethernet MTU", default=4200)
    description: str = ""
    pcie_latency_ns: float = spec(parse_latency_ns, "one-way PCIe transaction latency between "
                                  "the NIC and GPU or host memory", default=400.0)
    power_w: float = spec(doc="NIC card power, watts (optics apart); 0 = not given", default=0.0)
    optic_power_w: float = spec(doc="power of one port's optical module, watts", default=0.0)

    def __post_init__(self) -> None:
        positive("rate_bps", self.rate_bps)
        positive("ports", self.ports)
        _not_negative(self, "power_w", "optic_power_w")
        if not 576 <= self.mtu_bytes <= 9216:
            raise FieldError("mtu_bytes", f"must be 576..9216, got {self.mtu_bytes}")


@dataclass(frozen=True)
class SwitchChip:
    """A switch ASIC: scale-up switch chip (NVSwitch) or scale-out Ethernet switch."""

    name: str
    radix: int = spec(doc="number of ports at port_rate_bps")
    port_rate_bps: float = spec(parse_rate_bps, "rate of one port, per direction")
    latency_ns: float = spec(parse_latency_ns, "port-to-port forwarding latency")
    buffer_bytes: int = spec(parse_size_bytes, "packet buffer, shared by all ports", default=0)
    description: str = ""
    reduction_efficiency: float = spec(doc="in-switch reduction (NVLink SHARP): fraction of the "
                                       "link payload rate it sustains; 0 = none", default=0.0)
    power_w: float = spec(doc="switch chip power, watts (optics apart); 0 = not given",
                          default=0.0)
    optic_power_w: float = spec(doc="power of one port's optical module, watts; 0 = copper "
                                "or not given", default=0.0)

    def __post_init__(self) -> None:
        positive("radix", self.radix)
        positive("port_rate_bps", self.port_rate_bps)
        _not_negative(self, "power_w", "optic_power_w")
        if not 0.0 <= self.reduction_efficiency <= 1.0:
            raise FieldError("reduction_efficiency",
                             f"must be 0..1, got {self.reduction_efficiency}")

    @property
    def capacity_bps(self) -> float:
        """Switching capacity, one direction: radix x port rate."""
        return self.radix * self.port_rate_bps


@dataclass(frozen=True)
class DCILink:
    """A data-centre interconnect: long-haul fibre whose latency comes from distance."""

    name: str
    rate_bps: float = spec(parse_rate_bps, "line rate per direction")
    fibre_ns_per_m: float = spec(parse_latency_ns, "propagation delay per metre of fibre",
                                 default=FIBRE_NS_PER_M)
    equipment_latency_ns: float = spec(parse_latency_ns, "optics + DSP per end", default=0.0)
    reach_m: float = 120_000.0  # longest supported span, metres
    description: str = ""

    def __post_init__(self) -> None:
        positive("rate_bps", self.rate_bps)
        positive("fibre_ns_per_m", self.fibre_ns_per_m)
        positive("reach_m", self.reach_m)

    def latency_ns(self, distance_m: float) -> float:
        """One-way latency over ``distance_m`` of fibre, both ends' equipment included."""
        if distance_m < 0:
            raise FabricTwinError(f"distance must not be negative, got {distance_m} m")
        if distance_m > self.reach_m:
            raise FabricTwinError(
                f"{self.name}: {distance_m / 1000:g} km exceeds its reach of "
                f"{self.reach_m / 1000:g} km"
            )
        return distance_m * self.fibre_ns_per_m + 2 * self.equipment_latency_ns


@dataclass(frozen=True)
class HyperNode:
    """A scale-up domain: compute trays wired to switch trays through an orthogonal backplane.

    Every GPU has ``links_per_chip[c]`` links to switch chip ``c`` (the OEX crossbar:
    every GPU reaches every chip, no cables). Its total scale-up bandwidth
    ``gpu.rate_bps`` is split evenly over those links.
    """

    name: str
    gpu: GPU
    compute_trays: int
    gpus_per_tray: int
    switch_trays: int
    chips_per_tray: int
    chip: SwitchChip
    nic: NIC
    links_per_chip: tuple[int, ...] = spec(read_int_tuple, "links from each GPU to each chip",
                                           default=(1,))
    link_latency_ns: float = spec(parse_latency_ns, "backplane/cable latency", default=0.0)
    nics_per_gpu: int = 1
    mtu_bytes: int = spec(parse_size_bytes, "scale-up MTU", default=4096)
    description: str = ""
    # Scale-up packet format, for the payload efficiency of GPU (SM) stores: every packet
    # carries a header, and the reverse direction carries a response for it.
    link_payload_bytes: int = spec(doc="payload of one scale-up packet from SM stores",
                                   default=128)
    link_header_bytes: int = spec(doc="header bytes of one scale-up packet", default=16)
    link_response_bytes: int = spec(doc="bytes the reverse direction carries per packet "
                                    "(response/ack)", default=16)

    def __post_init__(self) -> None:
        for name in ("compute_trays", "gpus_per_tray", "switch_trays", "chips_per_tray",
                     "link_payload_bytes"):
            positive(name, getattr(self, name))
        for name in ("link_header_bytes", "link_response_bytes"):
            if getattr(self, name) < 0:
                raise FieldError(name, f"must not be negative, got {getattr(self, name)}")
        if self.nics_per_gpu < 0:
            raise FieldError("nics_per_gpu", f"must not be negative, got {self.nics_per_gpu}")
        if len(self.links_per_chip) == 1 and self.chips > 1:
            object.__setattr__(self, "links_per_chip", self.links_per_chip * self.chips)
        if len(self.links_per_chip) != self.chips:
            raise FieldError("links_per_chip", f"has {len(self.links_per_chip)} entries for "
                             f"{self.chips} chips (give one integer or one per chip)")
        if min(self.links_per_chip) < 1:
            raise FieldError("links_per_chip", "every GPU needs at least one link to every chip")
        for c, links in enumerate(self.links_per_chip):
            if self.gpus * links > self.chip.radix:
                raise FieldError("chip.radix", f"chip {c} needs {self.gpus} GPUs x {links} "
                                 f"links = {self.gpus * links} ports, radix is {self.chip.radix}")
        if self.link_rate_bps > self.chip.port_rate_bps * (1 + 1e-9):
            raise FieldError("gpu.rate_bps", f"gives {self.link_rate_bps:.4g} b/s per link, "
                             f"faster than a chip port ({self.chip.port_rate_bps:.4g} b/s)")

    @property
    def gpus(self) -> int:
        return self.compute_trays * self.gpus_per_tray

    @property
    def chips(self) -> int:
        return self.switch_trays * self.chips_per_tray

    @property
    def links_per_gpu(self) -> int:
        return sum(self.links_per_chip)

    @property
    def link_rate_bps(self) -> float:
        """Rate of one GPU-to-chip link, per direction."""
        return self.gpu.rate_bps / self.links_per_gpu

    def scaled(self, **overrides: object) -> HyperNode:
        """A copy with parametric overrides (the OEX knobs), re-validated.

        Keys: compute_trays, gpus_per_tray, switch_trays, chips_per_tray,
        links_per_chip, gpu_rate_bps, chip_latency_ns, chip_radix, chip_port_rate_bps.
        """
        gpu, chip = self.gpu, self.chip
        fields: dict[str, object] = {}
        for key, value in overrides.items():
            if key == "gpu_rate_bps":
                gpu = replace(gpu, rate_bps=value)
            elif key == "chip_latency_ns":
                chip = replace(chip, latency_ns=value)
            elif key == "chip_radix":
                chip = replace(chip, radix=value)
            elif key == "chip_port_rate_bps":
                chip = replace(chip, port_rate_bps=value)
            elif key in ("compute_trays", "gpus_per_tray", "switch_trays", "chips_per_tray",
                         "links_per_chip"):
                fields[key] = value
            else:
                raise FabricTwinError(f"{key}: not a hyper-node parameter")
        if "links_per_chip" not in fields and ("switch_trays" in fields
                                               or "chips_per_tray" in fields):
            if len(set(self.links_per_chip)) != 1:
                raise FabricTwinError("links_per_chip: give it when changing the chip count "
                                      f"of {self.name} (its chips differ)")
            fields["links_per_chip"] = self.links_per_chip[:1]
        try:
            return replace(self, gpu=gpu, chip=chip, **fields)
        except FabricTwinError as exc:  # FieldError's text already names the field
            raise FabricTwinError(f"{self.name}: {exc}") from None

