"""Volumes Talos provisions besides STATE, EPHEMERAL and user volumes: encrypted swap
(SwapVolumeConfig, volumeconfig/user_volumes.go SwapVolumeTransformer) and IMAGECACHE
(cri/image_cache_config.go), docs/talos/volume-lifecycle.md#imagecache."""

from cryptnode.configs import config, machine, node_id, static

SWAP = ("apiVersion: v1alpha1\nkind: SwapVolumeConfig\nname: swap1\nprovisioning:\n"
        "  diskSelector:\n    match: '!system_disk'\n  minSize: 64MiB\n  maxSize: 128MiB\n"
        "encryption:\n  provider: luks2\n  keys:\n    - slot: 0\n      nodeID: {}\n")


def swap_signature(node, volume):
    """The swap header's magic at the end of the first page of the opened mapping."""
    st = node.volume_status(volume)
    with open(st.mount_location, "rb") as f:
        f.seek(4096 - 10)
        return f.read(10)


def test_encrypted_swap_is_formatted_opened_and_ready_not_swapped_on(node):
    node.boot(config=config(SWAP))
    st = node.volume_status("s-swap1")
    assert st.phase == "ready", st.error_message
    assert st.encryption_provider == "luks2" and st.filesystem == "swap"
    assert st.mount_point == ""  # Talos would swapon it; the simulated node does not
    assert swap_signature(node, "s-swap1") == b"SWAPSPACE2"
    with open("/proc/swaps") as f:
        assert st.mount_location not in f.read()
    assert sorted(node.luks_dump("s-swap1")["keyslots"]) == ["0"]
    node.reboot()  # opened again with its nodeID key, the swap header rewritten
    st = node.volume_status("s-swap1")
    assert st.phase == "ready", st.error_message
    assert swap_signature(node, "s-swap1") == b"SWAPSPACE2"
    assert node.running


IMAGECACHE = ("apiVersion: v1alpha1\nkind: VolumeConfig\nname: IMAGECACHE\nprovisioning:\n"
              "  diskSelector:\n    match: '!system_disk'\n  minSize: 100MiB\n  maxSize: 200MiB\n")


def with_image_cache(*docs):
    base = machine()
    base["machine"]["features"] = {"imageCache": {"localEnabled": True}}
    return config(*docs, base=base)


def test_image_cache_is_provisioned_when_enabled_and_configured(node):
    node.boot(config=with_image_cache(IMAGECACHE))
    st = node.volume_status("IMAGECACHE")
    assert st.phase == "ready", st.error_message
    assert st.filesystem == "ext4" and st.encryption_provider == ""
    assert st.parent_location == node.devices()["disk1"]
    node.write_file("IMAGECACHE", "blob", b"layer")
    node.reboot()
    assert node.read_file("IMAGECACHE", "blob") == b"layer"


def test_image_cache_can_be_encrypted(node):
    enc = ("encryption:\n  provider: luks2\n  keys:\n    - slot: 0\n      static:\n"
           "        passphrase: cache-key\n")
    node.boot(config=with_image_cache(IMAGECACHE + enc))
    st = node.volume_status("IMAGECACHE")
    assert st.phase == "ready", st.error_message
    assert st.encryption_provider == "luks2" and st.configured_encryption_keys == ["static"]


def test_image_cache_without_its_document_is_only_located(node):
    node.boot(config=with_image_cache())
    assert node.volume_status("IMAGECACHE").phase == "missing"
    assert node.running


def test_image_cache_disabled_has_no_volume(node):
    node.boot(config=config(IMAGECACHE))
    assert "IMAGECACHE" not in node.volumes()
    assert node.running


def test_swap_partition_is_typed_linux_swap(node):
    """volumeconfig/user_volumes.go SwapVolumeTransformer: PartitionSpec.TypeUUID is
    partition.LinkSwap (internal/pkg/partition/constants.go), not LinuxFilesystemData."""
    import json
    import os
    import subprocess
    node.boot(config=config(SWAP))
    image = os.path.join(node.path, "disks", "disk1.img")
    out = subprocess.run(["sfdisk", "--json", image], capture_output=True, text=True, check=True)
    types = {p.get("name"): p["type"] for p in json.loads(out.stdout)["partitiontable"]["partitions"]}
    assert types["s-swap1"] == "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F", types


def test_image_cache_iso_is_located_by_its_label_and_never_encrypted(node_factory):
    """cri/image_cache_config.go createVolumeConfigISO: with the image cache enabled, IMAGECACHE-ISO
    is a disk-type volume located by `volume.name in ["iso9660", "vfat"] &&
    volume.label.startsWith("TALOS_")`: missing without such a volume, ready (not encrypted,
    nothing written) on a disk that carries one; no such volume without the image cache."""
    import os
    import subprocess
    node = node_factory(disks=["1GiB", "512MiB", "64MiB"])
    node.boot(config=config(IMAGECACHE))
    assert "IMAGECACHE-ISO" not in node.volumes()
    image = os.path.join(node.path, "disks", "disk2.img")
    node.apply_config(with_image_cache(), mode="reboot")
    assert node.volume_status("IMAGECACHE-ISO").phase == "missing"
    assert node.running
    node.shutdown()
    subprocess.run(["mkfs.vfat", "-n", "TALOS_V1_12", image], check=True, capture_output=True)
    before = open(image, "rb").read(1 << 20)
    node.boot()
    st = node.volume_status("IMAGECACHE-ISO")
    assert (st.type, st.phase) == ("disk", "ready"), st.error_message
    assert st.location == node.devices()["disk2"] and st.encryption_provider == ""
    assert node.running
    node.shutdown()
    assert open(image, "rb").read(1 << 20) == before
