"""Machine configs used by the scenarios: the seed document's examples, built as YAML text."""

BASE = """version: v1alpha1
machine:
  type: worker
"""


def doc(kind, name, keys=None, extra=""):
    """One volume document; keys is a list of YAML key bodies (already indented for `keys:`)."""
    text = f"apiVersion: v1alpha1\nkind: {kind}\nname: {name}\n{extra}"
    if keys is not None:
        text += "encryption:\n  provider: luks2\n  keys:\n" + "".join(keys)
    return text


def key(slot, body, lock=False):
    """A key entry: body is e.g. 'nodeID: {}' or 'static:\\n        passphrase: x'."""
    out = f"    - slot: {slot}\n      {body}\n"
    if lock:
        out += "      lockToState: true\n"
    return out


NODEID = "nodeID: {}"


def static(passphrase):
    return f"static:\n        passphrase: {passphrase}"


USER_DISK = """provisioning:
  diskSelector:
    match: "!system_disk"
  minSize: 100MiB
  maxSize: 200MiB
"""


def config(*docs):
    return "---\n".join([BASE] + list(docs))


STATE_EPHEMERAL_NODEID = config(
    doc("VolumeConfig", "STATE", [key(0, NODEID)]),
    doc("VolumeConfig", "EPHEMERAL", [key(0, NODEID)]),
)
