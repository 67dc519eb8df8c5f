"""A system as the projection model sees it: tiers of members, each with derived figures.

LL128 runs on every tier built here: NVLink keeps 128-byte stores whole, and NCCL
enables LL128 over the network too (``src/graph/tuning.cc``: Hopper and later when the
NIC is reached through PCIe switches or C2C, up to PXN; Ampere up to PXB), because a
GPUDirect RDMA NIC writes each 128-byte line in order into GPU memory.

A tier groups ``size`` members of the tier below: GPUs into a scale-up domain (a
hyper-node), hyper-nodes into a data centre's scale-out fabric, data centres into
a scale-across mesh. Every figure is derived from the hardware profile:

- payload rate: line rate times the protocol efficiency of the link layer. Scale-up
  links carry GPU (SM) stores as ``link_payload_bytes`` packets, each with a header,
  and traffic in both directions adds a response per packet in the reverse direction:
  ``payload / (payload + header + response)`` (128/160 = 80% for NVLink, which is the
  "~370 of 450 GB/s" NCCL reaches on H100). Scale-out and scale-across links carry
  RoCEv2 packets: the largest RoCE MTU that fits the NIC's Ethernet MTU, over the
  same plus :data:`ROCEV2_OVERHEAD_BYTES` on the wire (4096/4178 = 98%).
- hop latency: what one message crossing the tier passes through, one way: links,
  switch chips, NICs, PCIe transactions and fibre.
- sync latency: the GPU seeing a flag a peer wrote into its memory; fence latency: the
  memory fence the Simple protocol puts between data and flag (both set the Simple
  chunk handshake, :mod:`.pipeline`).

The latency a collective's steps pay is NCCL's own per-step constant for the tier's
hardware (:mod:`.latency`); the scale-across tier adds ``extra_s``, its DCI routers and
fibre, which NCCL's network constant does not cover.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fabrictwin.errors import FabricTwinError
from fabrictwin.hardware.catalogue import FIBRE_NS_PER_M, NIC, DCILink, HyperNode, SwitchChip

#: RoCEv2 bytes on the wire besides the payload: preamble+SFD 8, Ethernet 14, IPv4 20, UDP 8,
#: InfiniBand BTH 12, ICRC 4, FCS 4, inter-frame gap 12 (IEEE 802.3, IBTA RoCEv2 annex A17).
ROCEV2_OVERHEAD_BYTES = 8 + 14 + 20 + 8 + 12 + 4 + 4 + 12
#: Headers inside the Ethernet MTU (IPv4 + UDP + BTH + ICRC): the MTU must hold payload + these.
ROCEV2_L3_HEADER_BYTES = 20 + 8 + 12 + 4
#: Path MTUs RoCE and InfiniBand allow.
ROCE_MTUS = (256, 512, 1024, 2048, 4096)
#: PCIe transactions on an inter-node step: GPU posts to the proxy, proxy rings the NIC's
#: doorbell, NIC reads the payload (request and completion), remote NIC writes GPU memory.
PCIE_TRANSACTIONS_PER_NET_HOP = 5
TIER_NAMES = ("scale-up", "scale-out", "scale-across")


@dataclass(frozen=True)
class Tier:
    """One level of the hierarchy; a member is a GPU, a hyper-node or a data centre.

    ``payload_bps`` and ``line_bps`` are what one member sends out of itself at this
    tier, per direction. ``rank_payload_bps`` is what one GPU alone can push through
    the tier (its own NIC at scale-out). ``reduction_efficiency`` > 0 means the
    tier's switches reduce in the network (NVLink SHARP).
    """

    name: str
    size: int
    payload_bps: float
    line_bps: float
    rank_payload_bps: float
    hop_s: float
    sync_s: float
    fence_s: float = 0.0
    reduction_efficiency: float = 0.0
    ll128: bool = False  # the tier keeps 128-byte GPU stores whole (NVLink, GPUDirect RDMA NICs)
    ordered: bool = False  # a flag sent after data arrives after it (RDMA on one QP)
    extra_s: float = 0.0  # per-step latency beyond NCCL's NET constant: DCI routers, fibre
    nics: int = 0  # NICs per member (scale-out: per node); NCCL lays one channel through each


@dataclass(frozen=True)
class System:
    """Tiers, innermost first, the fixed cost of one collective call, NCCL's channels."""

    name: str
    tiers: tuple[Tier, ...]
    launch_s: float
    channels: int = 32      # ring/tree channels (CTAs) at full size
    nvls_channels: int = 16  # NVLink SHARP channels
    gpu_model: str = ""      # the GPU's name (its generation sets NCCL's LL ceiling, .latency)
    #: the host's measured per-call floor (s): nccl-tests averages back-to-back calls, and
    #: they average no faster than the host issues them; 0 = not measured (device time alone)
    call_floor_s: float = 0.0

    @property
    def ranks(self) -> int:
        return math.prod(t.size for t in self.tiers)

    def ranks_per_member(self, index: int) -> int:
        """GPUs in one member of tier ``index`` (1 for the scale-up tier)."""
        return math.prod(t.size for t in self.tiers[:index])

    def members(self, index: int) -> int:
        """Members of tier ``index`` in the whole system."""
        return self.ranks // self.ranks_per_member(index)

    def active(self) -> list[int]:
        """Indices of the tiers with more than one member per group."""
        return [i for i, t in enumerate(self.tiers) if t.size > 1]


def nvlink_efficiency(hn: HyperNode) -> float:
    """Payload fraction of a scale-up link under GPU stores in both directions."""
    packet = hn.link_payload_bytes + hn.link_header_bytes + hn.link_response_bytes
    return hn.link_payload_bytes / packet


def roce_payload_bytes(mtu_bytes: int) -> int:
    """Largest RoCE path MTU whose packets fit an Ethernet MTU of ``mtu_bytes``."""
    fits = [m for m in ROCE_MTUS if m + ROCEV2_L3_HEADER_BYTES <= mtu_bytes]
    if not fits:
        raise FabricTwinError(f"mtu_bytes: {mtu_bytes} cannot carry a RoCEv2 packet")
    return fits[-1]


def roce_efficiency(mtu_bytes: int) -> float:
    """Payload fraction of a RoCEv2 link at this Ethernet MTU."""
    payload = roce_payload_bytes(mtu_bytes)
    return payload / (payload + ROCEV2_OVERHEAD_BYTES)


def scale_out_switch_hops(servers: int, rails: int, switch: SwitchChip) -> int:
    """Switches on a path between servers of a rail-optimized Clos (see topologies.clos).

    One leaf when all servers fit a rail group of radix/2, leaf-spine-leaf while the
    spines' radix can take every leaf, five hops beyond (a third tier).
    """
    group = max(switch.radix // 2, 1)
    groups = -(-servers // group)
    if groups <= 1:
        return 1
    return 3 if groups * rails <= switch.radix else 5


def _scale_out_hop_s(nic: NIC, switch: SwitchChip, hops: int, cable_m: float) -> float:
    ns = (2 * nic.latency_ns + hops * switch.latency_ns + (hops + 1) * cable_m * FIBRE_NS_PER_M
          + PCIE_TRANSACTIONS_PER_NET_HOP * nic.pcie_latency_ns)
    return ns * 1e-9


def build_system(hn: HyperNode, gpus: int, *, nodes: int | None = None,
                 nics_per_node: int | None = None, nic_rate_bps: float | None = None,
                 switch: SwitchChip | None = None, dcs: int = 1, dci: DCILink | None = None,
                 dci_links: int = 1, distance_m: float = 50_000.0,
                 cable_m: float = 10.0, call_floor_s: float = 0.0) -> System:
    """The tiers of ``gpus`` GPUs on hyper-nodes ``hn``, ``nodes`` of them over ``dcs`` DCs.

    ``nodes`` defaults to one hyper-node when the GPUs fit in one, else to full
    hyper-nodes. Each node has ``nics_per_node`` NICs (default: GPUs x the profile's
    NICs per GPU) of ``nic_rate_bps`` (default: the profile's NIC); ``switch`` is the
    scale-out switch and ``dci`` the link between each pair of DCs (``dci_links`` of
    them per DC). ``call_floor_s`` is the host's measured per-call floor (nccl-tests'
    time at its smallest size on that machine; 0: not measured).
    """
    for name, value in (("gpus", gpus), ("dcs", dcs), ("dci_links", dci_links)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise FabricTwinError(f"{name}: must be a positive integer, got {value!r}")
    if not 0 <= call_floor_s < math.inf:
        raise FabricTwinError(f"call_floor_s: must be a non-negative time, got {call_floor_s!r}")
    if nodes is None:
        if gpus <= hn.gpus and dcs == 1:
            nodes = 1
        elif gpus % hn.gpus == 0:
            nodes = gpus // hn.gpus
        else:
            raise FabricTwinError(f"gpus: {gpus} is not a whole number of {hn.name} "
                                  f"hyper-nodes of {hn.gpus} GPUs; set the number of nodes")
    if isinstance(nodes, bool) or not isinstance(nodes, int) or nodes < 1:
        raise FabricTwinError(f"nodes: must be a positive integer, got {nodes!r}")
    if gpus % nodes:
        raise FabricTwinError(f"nodes: {nodes} does not divide gpus {gpus}")
    per_node = gpus // nodes
    if per_node > hn.gpus:
        raise FabricTwinError(f"gpus: {per_node} GPUs per node exceed the {hn.name} "
                              f"hyper-node of {hn.gpus} GPUs")
    if nodes % dcs:
        raise FabricTwinError(f"dcs: {dcs} does not divide nodes {nodes}")
    gpu = hn.gpu
    up = Tier("scale-up", per_node, payload_bps=gpu.rate_bps * nvlink_efficiency(hn),
              line_bps=gpu.rate_bps, rank_payload_bps=gpu.rate_bps * nvlink_efficiency(hn),
              hop_s=(2 * hn.link_latency_ns + hn.chip.latency_ns) * 1e-9,
              sync_s=gpu.sync_latency_ns * 1e-9, fence_s=gpu.fence_latency_ns * 1e-9,
              reduction_efficiency=hn.chip.reduction_efficiency, ll128=True)
    tiers = [up]
    if nodes > 1:
        nics = per_node * hn.nics_per_gpu if nics_per_node is None else nics_per_node
        if isinstance(nics, bool) or not isinstance(nics, int) or nics < 1:
            raise FabricTwinError(f"nics_per_node: {hn.name} nodes need at least one NIC "
                                  f"to join {nodes} nodes, got {nics}")
        nic_bps = hn.nic.rate_bps if nic_rate_bps is None else nic_rate_bps
        if not nic_bps > 0:
            raise FabricTwinError(f"nic_rate_bps: must be positive, got {nic_bps}")
        if switch is None:
            raise FabricTwinError("switch: more than one node needs a scale-out switch")
        eff = roce_efficiency(hn.nic.mtu_bytes)
        node_bps = nics * nic_bps
        rank_bps = node_bps / per_node if nics >= per_node else nic_bps
        servers = nodes // dcs * hn.compute_trays
        rails = max(nics // hn.compute_trays, 1)
        out_hop_s = _scale_out_hop_s(hn.nic, switch, scale_out_switch_hops(servers, rails,
                                                                           switch), cable_m)
        tiers.append(Tier("scale-out", nodes // dcs, payload_bps=node_bps * eff,
                          line_bps=node_bps, rank_payload_bps=rank_bps * eff,
                          hop_s=out_hop_s, sync_s=up.sync_s, fence_s=up.fence_s,
                          ll128=True, ordered=True, nics=nics))
        if dcs > 1:
            if dci is None:
                raise FabricTwinError("dci: more than one DC needs a DCI link profile")
            dc_bps = dci_links * dci.rate_bps
            # A DC crossing goes NIC - leaf - spine - DCI router - fibre - router - spine ...
            across_ns = dci.latency_ns(distance_m) + 2 * switch.latency_ns
            tiers.append(Tier("scale-across", dcs, payload_bps=dc_bps * eff, line_bps=dc_bps,
                              rank_payload_bps=min(rank_bps, dc_bps) * eff,
                              hop_s=out_hop_s + across_ns * 1e-9, sync_s=up.sync_s,
                              fence_s=up.fence_s, ll128=True, ordered=True,
                              extra_s=across_ns * 1e-9))
    elif dcs > 1:
        raise FabricTwinError(f"dcs: {dcs} DCs need more than one node")
    return System(hn.name, tuple(tiers), gpu.launch_latency_ns * 1e-9, channels=gpu.channels,
                  nvls_channels=gpu.nvls_channels, gpu_model=gpu.model,
                  call_floor_s=call_floor_s)
