"""`talosctl patch machineconfig` (node.patch_config, `cryptnode -n DIR patch mc`) and `talosctl gen
config` (cryptnode.gen_config, `cryptnode gen config`): the path a Talos user takes. The strategic
merge follows pkg/machinery/config/configpatcher/strategic.go and pkg/machinery/config/merge:
documents matched by apiVersion/kind/name, maps merged, most lists appended (some replaced, some
merged by key), `$patch: delete` for documents, keys and list items."""

import pytest
import yaml

import cryptnode
from cryptnode import gen_config, strategic_merge

VOLUME = ("apiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\nencryption:\n"
          "  provider: luks2\n  keys:\n    - slot: 0\n      nodeID: {}\n")
USER = ("apiVersion: v1alpha1\nkind: UserVolumeConfig\nname: data\nprovisioning:\n"
        "  diskSelector:\n    match: '!system_disk'\n  minSize: 100MiB\n  maxSize: 200MiB\n"
        "encryption:\n  provider: luks2\n  keys:\n    - slot: 0\n      nodeID: {}\n")


def docs(text):
    return [d for d in yaml.safe_load_all(text) if d]


def find(text, kind, name=None):
    for d in docs(text):
        if d.get("kind", "v1alpha1") == kind and (name is None or d.get("name") == name):
            return d
    return None


# --- the strategic merge ------------------------------------------------------------------------

def test_gen_config_is_a_whole_v1alpha1_document():
    base = docs(gen_config())
    assert len(base) == 1 and base[0]["version"] == "v1alpha1"
    assert base[0]["machine"]["type"] == "worker"
    assert base[0]["machine"]["install"]["disk"] == "/dev/sda"  # the simulated system disk
    assert docs(gen_config("controlplane"))[0]["machine"]["type"] == "controlplane"
    with pytest.raises(cryptnode.Error, match='machine type "db" is not one of'):
        gen_config("db")
    assert cryptnode.validate_config(gen_config() + "---\n" + VOLUME) == []


def test_documents_are_matched_by_api_version_kind_and_name():
    merged = strategic_merge(gen_config() + "---\n" + VOLUME, USER)
    assert [d.get("kind", "v1alpha1") for d in docs(merged)] == [
        "v1alpha1", "VolumeConfig", "UserVolumeConfig"]
    patch = "apiVersion: v1alpha1\nkind: UserVolumeConfig\nname: data\nprovisioning:\n  maxSize: 300MiB\n"
    again = strategic_merge(merged, patch)
    user = find(again, "UserVolumeConfig", "data")
    assert user["provisioning"]["maxSize"] == "300MiB"
    assert user["provisioning"]["minSize"] == "100MiB"  # maps merge key by key
    assert len(docs(again)) == 3


def test_encryption_keys_are_appended_not_replaced():
    """v1alpha1 merge rule: a list without `merge:"replace"` is concatenated, so patching keys
    adds a slot; replacing the keys takes a `$patch: delete` of the document first."""
    patch = ("apiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\nencryption:\n  keys:\n"
             "    - slot: 1\n      static:\n        passphrase: second\n")
    merged = strategic_merge(gen_config() + "---\n" + VOLUME, patch)
    keys = find(merged, "VolumeConfig", "EPHEMERAL")["encryption"]["keys"]
    assert [k["slot"] for k in keys] == [0, 1]
    assert find(merged, "VolumeConfig", "EPHEMERAL")["encryption"]["provider"] == "luks2"


def test_list_items_are_deleted_by_a_string_field_only():
    """Talos compares reflect.Value.String() of the item's field: for a string field the text,
    for an int field "<int Value>"; so an interface goes by name, a key slot cannot go by slot."""
    base = strategic_merge(gen_config(), "version: v1alpha1\nmachine:\n  network:\n    interfaces:\n"
                           "      - interface: eth0\n        dhcp: true\n"
                           "      - interface: eth1\n        dhcp: true\n")
    merged = strategic_merge(base, "version: v1alpha1\nmachine:\n  network:\n    interfaces:\n"
                             "      - interface: eth0\n        $patch: delete\n")
    assert docs(merged)[0]["machine"]["network"]["interfaces"] == [
        {"interface": "eth1", "dhcp": True}]
    patch = ("apiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\nencryption:\n  keys:\n"
             "    - slot: 0\n      $patch: delete\n")
    with pytest.raises(cryptnode.Error, match="named patch delete: document v1alpha1/VolumeConfig: "
                                              r"failed to delete path 'encryption.keys.\[0\]': lookup failed"):
        strategic_merge(gen_config() + "---\n" + VOLUME, patch)


def test_replacing_keys_deletes_the_document_and_adds_it_again():
    """What a user does to drop a key with patch mc: delete the document, then append it anew,
    in one multi-document patch (selectors are not counted as duplicates by container.New)."""
    patch = ("apiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\n$patch: delete\n---\n"
             "apiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\nencryption:\n"
             "  provider: luks2\n  keys:\n    - slot: 1\n      static:\n        passphrase: new\n")
    merged = strategic_merge(gen_config() + "---\n" + VOLUME, patch)
    keys = find(merged, "VolumeConfig", "EPHEMERAL")["encryption"]["keys"]
    assert keys == [{"slot": 1, "static": {"passphrase": "new"}}]


def test_replace_lists_and_keyed_lists_of_v1alpha1():
    base = gen_config() + "cluster:\n  network:\n    podSubnets: [10.244.0.0/16]\n"
    base = strategic_merge(gen_config(), "version: v1alpha1\ncluster:\n  network:\n"
                           "    podSubnets: [10.244.0.0/16]\n")
    merged = strategic_merge(base, "version: v1alpha1\ncluster:\n  network:\n"
                             "    podSubnets: [10.10.0.0/16]\n")
    assert docs(merged)[0]["cluster"]["network"]["podSubnets"] == ["10.10.0.0/16"]
    base = strategic_merge(gen_config(), "version: v1alpha1\nmachine:\n  network:\n    interfaces:\n"
                           "      - interface: eth0\n        mtu: 1500\n        dhcp: true\n")
    merged = strategic_merge(base, "version: v1alpha1\nmachine:\n  network:\n    interfaces:\n"
                             "      - interface: eth0\n        mtu: 9000\n"
                             "      - interface: eth1\n        dhcp: true\n")
    ifaces = docs(merged)[0]["machine"]["network"]["interfaces"]
    assert ifaces == [{"interface": "eth0", "mtu": 9000, "dhcp": True},
                      {"interface": "eth1", "dhcp": True}]


def test_zero_values_do_not_overwrite_but_false_does():
    base = gen_config() + "---\n" + USER
    merged = strategic_merge(base, "version: v1alpha1\ndebug: true\nmachine:\n  type: ''\n")
    assert docs(merged)[0]["machine"]["type"] == "worker"
    assert docs(merged)[0]["debug"] is True
    merged = strategic_merge(merged, "version: v1alpha1\ndebug: false\n")
    assert docs(merged)[0]["debug"] is False


def test_patch_delete_of_a_document_and_of_a_key():
    base = gen_config() + "---\n" + VOLUME + "---\n" + USER
    gone = strategic_merge(base, "apiVersion: v1alpha1\nkind: UserVolumeConfig\nname: data\n"
                           "$patch: delete\n")
    assert find(gone, "UserVolumeConfig") is None and find(gone, "VolumeConfig") is not None
    no_max = strategic_merge(base, "apiVersion: v1alpha1\nkind: UserVolumeConfig\nname: data\n"
                             "provisioning:\n  maxSize:\n    $patch: delete\n")
    assert "maxSize" not in find(no_max, "UserVolumeConfig")["provisioning"]
    with pytest.raises(cryptnode.Error, match="can't delete the root of the legacy document"):
        strategic_merge(base, "version: v1alpha1\n$patch: delete\n")
    with pytest.raises(cryptnode.Error, match="failed to delete path 'machine.nothere.x': "
                                              "lookup failed"):
        strategic_merge(base, "version: v1alpha1\nmachine:\n  nothere:\n    x:\n"
                        "      $patch: delete\n")


# --- on a node ----------------------------------------------------------------------------------

def test_gen_config_then_patch_a_running_node(node):
    """A Talos user's path: gen config, boot, then talosctl patch mc with VolumeConfig documents."""
    node.boot(config=gen_config())
    assert node.volume_status("EPHEMERAL").encryption_provider == ""
    # A new encrypted user volume applies without a reboot.
    assert node.patch_config(USER, mode="no-reboot") == "no-reboot"
    st = node.volume_status("u-data")
    assert st.phase == "ready" and st.encryption_provider == "luks2", st.error_message
    node.write_file("u-data", "f.bin", b"kept")
    # Another key appended to the user volume (the strategic merge appends lists) ...
    patch = ("apiVersion: v1alpha1\nkind: UserVolumeConfig\nname: data\nencryption:\n  keys:\n"
             "    - slot: 1\n      static:\n        passphrase: second-key\n")
    node.patch_config(patch, mode="reboot")
    assert sorted(int(s) for s in node.luks_dump("u-data")["keyslots"]) == [0, 1]
    assert node.read_file("u-data", "f.bin") == b"kept"
    # ... and the first one dropped: the document deleted and added again with the new key only.
    rotated = ("apiVersion: v1alpha1\nkind: UserVolumeConfig\nname: data\n$patch: delete\n---\n" +
               USER.replace("      nodeID: {}\n", "      static:\n        passphrase: second-key\n")
               .replace("slot: 0", "slot: 1"))
    node.patch_config(rotated, mode="reboot")
    assert sorted(int(s) for s in node.luks_dump("u-data")["keyslots"]) == [1]
    assert node.read_file("u-data", "f.bin") == b"kept"
    # And the document deleted: the volume closes, its partition stays.
    node.patch_config("apiVersion: v1alpha1\nkind: UserVolumeConfig\nname: data\n"
                      "$patch: delete\n", mode="no-reboot")
    assert find(node.active_config(), "UserVolumeConfig") is None


def test_cli_gen_config_and_patch_mc(cli, node_dir, tmp_path):
    r = cli("gen", "config")
    assert r.returncode == 0 and docs(r.stdout)[0]["version"] == "v1alpha1"
    cfg = tmp_path / "worker.yaml"
    cfg.write_text(r.stdout + "---\n" + VOLUME)
    assert cli("-n", node_dir, "boot", "--config", cfg).returncode == 0
    patch = tmp_path / "user.yaml"
    patch.write_text(USER)
    r = cli("-n", node_dir, "patch", "mc", "--patch", f"@{patch}", "--mode=no-reboot")
    assert r.returncode == 0, r
    r = cli("-n", node_dir, "get", "volumestatus", "-o", "json")
    assert r.returncode == 0, r
    assert "u-data" in r.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: v1alpha1\n$patch: delete\n")
    r = cli("-n", node_dir, "patch", "mc", "--patch", f"@{bad}", "--mode=no-reboot")
    assert r.returncode == 1 and "can't delete the root of the legacy document" in r.stderr
    # The refused patch is named as apply-config -f FILE names its file.
    assert f"patch mc --patch @{bad}: " in r.stderr, r.stderr
