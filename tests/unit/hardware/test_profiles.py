"""The hardware catalogue: shipped profiles, user profiles, rejection of bad files."""

from pathlib import Path

import pytest

from fabrictwin.errors import FabricTwinError
from fabrictwin.hardware.catalogue import NIC, DCILink, HyperNode, SwitchChip
from fabrictwin.hardware.profiles import ProfileLibrary


def test_every_shipped_profile_loads(lib):
    infos = lib.list()
    kinds = {p.kind for p in infos}
    assert kinds == {"hypernode", "nic", "switch", "dci"}
    for info in infos:
        part = lib.load(info.name)
        assert part.name == info.name


def test_gb200_nvl72(lib):
    hn = lib.load("gb200-nvl72")
    assert isinstance(hn, HyperNode)
    assert (hn.compute_trays, hn.gpus_per_tray, hn.switch_trays, hn.chips_per_tray) == (
        18, 4, 9, 2)
    assert hn.gpus == 72 and hn.chips == 18
    assert 2 * hn.gpu.rate_bps / 8 == pytest.approx(1.8e12)  # 1.8 TB/s bidirectional
    assert hn.links_per_chip == (1,) * 18
    assert hn.nic.rate_bps == 400e9


@pytest.mark.parametrize("name,gbytes,chips", [("dgx-h100", 450, 4), ("dgx-h200", 450, 4),
                                               ("dgx-a100", 300, 6), ("dgx-b200", 900, 2)])
def test_dgx_systems(lib, name, gbytes, chips):
    hn = lib.load(name)
    assert hn.gpus == 8 and hn.chips == chips
    assert hn.gpu.rate_bps / 8 == pytest.approx(gbytes * 1e9)  # per direction
    assert hn.links_per_gpu * hn.link_rate_bps == pytest.approx(hn.gpu.rate_bps)


def test_scale_out_parts(lib):
    assert {lib.load(n).rate_bps for n in ("cx6-200g", "cx7-400g", "cx8-800g")} == {
        200e9, 400e9, 800e9}
    sw = lib.load("tomahawk5-51t2")
    assert isinstance(sw, SwitchChip) and sw.capacity_bps == 51.2e12 and sw.radix == 64
    assert sw.buffer_bytes > 0
    dci = lib.load("zr400")
    assert isinstance(dci, DCILink)
    # about 5 ns per metre of fibre: 100 km is about 0.5 ms one way
    assert dci.latency_ns(100_000) == pytest.approx(490_000, rel=0.02)
    with pytest.raises(FabricTwinError, match="exceeds its reach"):
        dci.latency_ns(500_000)


def test_kind_mismatch(lib):
    with pytest.raises(FabricTwinError, match="expected a nic profile"):
        lib.load("tomahawk5-51t2", "nic")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def test_user_profile_by_directory_shadows_and_references(tmp_path):
    write(tmp_path, "my-nic", "kind: nic\nname: my-nic\nrate_bps: 1.6T\n")
    write(tmp_path, "cx7-400g", "kind: nic\nname: cx7-400g\nrate_bps: 401G\n")
    write(tmp_path, "mini", """
kind: hypernode
name: mini
gpu: {model: test, rate_bps: 800G}
compute_trays: 2
gpus_per_tray: 2
switch_trays: 1
chips_per_tray: 2
chip: {name: tiny, radix: 8, port_rate_bps: 400G, latency_ns: 50ns}
nic: my-nic
""")
    lib = ProfileLibrary([tmp_path])
    assert lib.load("cx7-400g").rate_bps == 401e9
    hn = lib.load("mini")
    assert hn.nic == NIC(name="my-nic", rate_bps=1.6e12)
    assert hn.link_rate_bps == 400e9
    assert lib.load(str(tmp_path / "mini.yaml")).gpus == 4


@pytest.mark.parametrize("body,message", [
    ("kind: nic\nname: bad\nrate_bps: 400G\nspeed: 1\n", r"bad\.yaml: speed: unknown key"),
    ("kind: nic\nname: bad\nrate_bps: fast\n", r"bad\.yaml: rate_bps: cannot read 'fast'"),
    ("kind: nic\nname: bad\nrate_bps: 400G\nports: two\n",
     r"bad\.yaml: ports: expected an integer"),
    ("kind: nic\nname: bad\nrate_bps: 400G\nports: 0\n", r"bad\.yaml: ports: must be positive"),
    ("kind: nic\nname: bad\n", r"bad\.yaml: rate_bps: missing required key"),
    ("kind: nic\nname: other\nrate_bps: 1G\n", r"bad\.yaml: name: must equal the file name"),
    ("kind: gpu\nname: bad\n", r"bad\.yaml: kind: must be one of"),
    ("kind: nic\nname: bad\nrate_bps: [400G\n", r"bad\.yaml: line \d+: invalid YAML"),
    ("- just\n- a list\n", r"bad\.yaml: expected a mapping"),
    ("""kind: hypernode
name: bad
gpu: {model: x, rate_bps: 800G}
compute_trays: 4
gpus_per_tray: 4
switch_trays: 1
chips_per_tray: 2
chip: {name: c, radix: 8, port_rate_bps: 400G, latency_ns: 50}
nic: cx7-400g
""", r"bad\.yaml: chip\.radix: chip 0 needs 16 GPUs x 1 links = 16 ports, radix is 8"),
    ("""kind: hypernode
name: bad
gpu: {model: x, rate_bps: 800G, colour: red}
compute_trays: 1
gpus_per_tray: 2
switch_trays: 1
chips_per_tray: 1
chip: nvswitch3
nic: cx7-400g
""", r"bad\.yaml: gpu\.colour: unknown key"),
    ("""kind: hypernode
name: bad
gpu: {model: x, rate_bps: 800G}
compute_trays: 1
gpus_per_tray: 2
switch_trays: 1
chips_per_tray: 3
links_per_chip: [1, 2]
chip: nvswitch3
nic: cx7-400g
""", r"bad\.yaml: links_per_chip: has 2 entries for 3 chips"),
])
def test_bad_profile_files_are_rejected_in_one_line(tmp_path, body, message):
    path = write(tmp_path, "bad", body)
    with pytest.raises(FabricTwinError, match=message) as info:
        ProfileLibrary([tmp_path]).load(str(path))
    assert "\n" not in str(info.value)
    assert str(path) in str(info.value)


def test_unknown_profile_lists_known_of_that_kind(lib):
    with pytest.raises(FabricTwinError, match=r"unknown nic profile 'cx9'.*cx7-400g"):
        lib.load("cx9", "nic")
