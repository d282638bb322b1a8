"""The cached guest: Debian's kernel (unpacked with dpkg -x, never installed) and a busybox
initramfs carrying cryptsetup, xfsprogs, tpm2-tools, their libraries and the kernel modules the
tier needs. Built into <vm_dir>/guest/ and rebuilt only when an input changes (the SHA-256 of all
inputs is kept in guest/stamp). No network is needed once the kernel .deb is cached or the
linux-image package is installed. Recipes: docs/vm-tier.md."""

from __future__ import annotations

import contextlib
import fcntl
import glob
import gzip
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass

from . import REPO, vm_dir

BUILDER_VERSION = "1"
ARCH_LIBDIR = "usr/lib/x86_64-linux-gnu"
INIT = os.path.join(REPO, "vmtests", "guest", "init")

# Host binaries copied into the guest, with their libraries (ldd) and the ones glibc or the tools
# dlopen (ldd does not list them).
BINARIES = ["/usr/sbin/cryptsetup", "/usr/sbin/dmsetup", "/usr/sbin/mkfs.xfs", "/usr/bin/tpm2",
            "/usr/bin/openssl"]
DLOPENED = ["libgcc_s.so.1", "libtss2-tcti-device.so.0"]
TPM2_LINKS = ["tpm2_pcrread", "tpm2_getcap", "tpm2_startup"]

# Modules loaded by /init, in order; names as modprobe takes them. Built-in ones are skipped.
# ecb is required: xts(aes) is built on ecb(aes); without it dm-crypt's table load fails.
MODULES = ["virtio_pci", "virtio_blk", "dm_mod", "dm_crypt", "ecb", "xts", "aesni_intel",
           "crc32c_intel", "crc32c_generic", "libcrc32c", "af_alg", "algif_skcipher",
           "algif_hash", "loop", "ext4", "xfs", "fuse", "virtiofs", "tpm_crb", "tpm_tis"]
REQUIRED = {"virtio_pci", "virtio_blk", "dm_mod", "dm_crypt", "ecb", "xts", "loop", "xfs",
            "ext4", "virtiofs"}


class GuestUnavailable(Exception):
    """The guest cannot be built on this host (the reason is the message)."""


@dataclass
class Guest:
    kernel: str  # path of the bzImage
    initrd: str  # path of the gzip'd newc initramfs
    kver: str
    flavour: str  # cloud | generic
    source: str  # where the kernel came from
    rebuilt: bool  # built by this call (False: the cache was current)


def _run(argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kw)


def _sha256_file(path, h=None):
    h = h or hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h


# --- the kernel ------------------------------------------------------------------------------

def _dpkg_field(pkg, field):
    r = subprocess.run(["dpkg-query", "-W", "-f", "${" + field + "}", pkg],
                       capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else ""


def kernel_package_names():
    """(generic, cloud, version) from the installed linux-image-amd64 metapackage's dependency,
    e.g. ("linux-image-6.1.0-56-amd64", "linux-image-6.1.0-56-cloud-amd64", "6.1.192-2")."""
    dep = _dpkg_field("linux-image-amd64", "Depends")
    m = re.search(r"(linux-image-[0-9][^\s,(]*-amd64)", dep)
    if not m:
        installed = sorted(glob.glob("/boot/vmlinuz-*-amd64"))
        if not installed:
            raise GuestUnavailable("no Debian kernel package (linux-image-amd64) is installed "
                                   "(scripts/setup --vm)")
        generic = "linux-image-" + installed[-1].split("vmlinuz-", 1)[1]
    else:
        generic = m.group(1)
    version = _dpkg_field(generic, "Version")
    cloud = generic[:-len("-amd64")] + "-cloud-amd64"
    return generic, cloud, version


def _find_deb(pkg, version, cache):
    """A cached .deb of pkg (our cache, then apt's archive cache); None if absent."""
    ver = version.replace(":", "%3a")
    for d in (cache, "/var/cache/apt/archives"):
        for p in sorted(glob.glob(os.path.join(d, f"{pkg}_*_amd64.deb"))):
            if not version or f"_{ver}_" in os.path.basename(p):
                return p
    return None


def _download_deb(pkg, version, cache):
    """apt-get download into the cache; None when apt cannot (offline, unknown version)."""
    if os.environ.get("CRYPTNODE_VM_OFFLINE") == "1":
        return None
    os.makedirs(cache, exist_ok=True)
    spec = f"{pkg}={version}" if version else pkg
    r = subprocess.run(["apt-get", "download", "-q", spec], cwd=cache, capture_output=True,
                       text=True, timeout=600)
    if r.returncode != 0:
        return None
    return _find_deb(pkg, version, cache)


def _kernel_tree(deb, vmdir):
    """dpkg -x the .deb once into <vm_dir>/kernel/<deb name>/ and make its modules.dep."""
    tree = os.path.join(vmdir, "kernel", os.path.basename(deb)[:-len(".deb")])
    done = os.path.join(tree, ".unpacked")
    if os.path.exists(done):
        return tree
    shutil.rmtree(tree, ignore_errors=True)
    os.makedirs(tree)
    _run(["dpkg-deb", "-x", deb, tree])  # = dpkg -x
    kver = _kver_of_tree(tree)
    # The .deb ships no modules.dep (its postinst makes it); kmod may be absent: busybox depmod.
    _run(["busybox", "depmod", "-b", tree, kver])
    open(done, "w").close()
    return tree


def _kver_of_tree(root):
    vm = sorted(glob.glob(os.path.join(root, "boot", "vmlinuz-*")))
    if not vm:
        raise GuestUnavailable(f"no vmlinuz in {root}/boot")
    return os.path.basename(vm[-1])[len("vmlinuz-"):]


def locate_kernel(vmdir):
    """(tree root, kver, flavour, source, identity). CRYPTNODE_VM_KERNEL=auto|cloud|generic.
    auto prefers Debian's cloud kernel (LZ4, ~4.5 s boots under TCG against ~8 s for the XZ
    generic one) and falls back to the installed generic kernel when the cloud .deb is neither
    cached nor downloadable."""
    want = os.environ.get("CRYPTNODE_VM_KERNEL", "auto")
    if want not in ("auto", "cloud", "generic"):
        raise GuestUnavailable(f"CRYPTNODE_VM_KERNEL={want!r} is not one of auto, cloud, generic")
    cache = os.path.join(vmdir, "cache")
    generic, cloud, version = kernel_package_names()
    if want in ("auto", "cloud"):
        deb = _find_deb(cloud, version, cache) or _download_deb(cloud, version, cache)
        if deb:
            tree = _kernel_tree(deb, vmdir)
            return tree, _kver_of_tree(tree), "cloud", deb, os.path.basename(deb)
        if want == "cloud":
            raise GuestUnavailable(f"{cloud} {version}: no cached .deb and apt-get download failed")
    deb = _find_deb(generic, version, cache)
    if deb:
        tree = _kernel_tree(deb, vmdir)
        return tree, _kver_of_tree(tree), "generic", deb, os.path.basename(deb)
    # The installed package's own files (dpkg -L): /boot/vmlinuz-KVER and /lib/modules/KVER.
    kver = generic[len("linux-image-"):]
    if not os.path.exists(f"/boot/vmlinuz-{kver}") or not os.path.exists(
            f"/lib/modules/{kver}/modules.dep"):
        raise GuestUnavailable(f"{generic}: /boot/vmlinuz-{kver} or its modules are missing")
    return "/", kver, "generic", f"installed {generic} {version}", f"{generic}={version}"


def _module_index(root, kver):
    """{normalised name: relative path} and {relative path: [deps]} from modules.dep, and the set
    of built-in module names."""
    base = os.path.join(root, "lib", "modules", kver)
    paths, deps = {}, {}
    with open(os.path.join(base, "modules.dep")) as f:
        for line in f:
            if ":" not in line:
                continue
            mod, rest = line.split(":", 1)
            mod = mod.strip()
            deps[mod] = rest.split()
            name = os.path.basename(mod).split(".ko")[0].replace("-", "_")
            paths[name] = mod
    builtin = set()
    with contextlib.suppress(OSError), open(os.path.join(base, "modules.builtin")) as f:
        for line in f:
            builtin.add(os.path.basename(line.strip()).split(".ko")[0].replace("-", "_"))
    return paths, deps, builtin


def module_closure(root, kver, names=MODULES):
    """(relative paths to copy, names to load). Missing required modules raise."""
    paths, deps, builtin = _module_index(root, kver)
    want, load = [], []
    for n in names:
        if n in builtin:
            continue
        if n not in paths:
            if n in REQUIRED:
                raise GuestUnavailable(f"kernel {kver} has no module {n}")
            continue
        load.append(n)
        stack = [paths[n]]
        while stack:
            p = stack.pop()
            if p not in want:
                want.append(p)
                stack.extend(deps.get(p, []))
    return want, load


# --- binaries and libraries ----------------------------------------------------------------------

def _ldd(path):
    out = _run(["ldd", path]).stdout
    libs = []
    for line in out.splitlines():
        m = re.search(r"=>\s*(/\S+)", line) or re.match(r"\s*(/\S+)\s+\(", line)
        if m:
            libs.append(m.group(1))
    return libs


def _libdir_file(name):
    for d in ("/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu"):
        if os.path.exists(os.path.join(d, name)):
            return os.path.join(d, name)
    raise GuestUnavailable(f"{name} is not installed")


def payload_files():
    """{path in the guest: host file} for the binaries, their libraries and the loader."""
    out = {}
    missing = [b for b in BINARIES if not os.path.exists(b)]
    if missing:
        raise GuestUnavailable("missing on the host: " + ", ".join(missing) + " (scripts/setup)")
    libs = set()
    for b in BINARIES:
        out[b.lstrip("/")] = b
        libs.update(_ldd(b))
    for name in DLOPENED:
        lib = _libdir_file(name)
        libs.add(lib)
        libs.update(_ldd(lib))
    for lib in sorted(libs):
        if os.path.basename(lib).startswith("ld-linux"):
            out["usr/lib64/" + os.path.basename(lib)] = lib
        else:
            out[ARCH_LIBDIR + "/" + os.path.basename(lib)] = lib
    busybox = shutil.which("busybox") or "/bin/busybox"
    if not os.path.exists(busybox):
        raise GuestUnavailable("busybox is not installed (busybox-static, scripts/setup --vm)")
    out["usr/bin/busybox"] = busybox
    return out


# --- newc cpio ------------------------------------------------------------------------------------

def _newc_entry(name, mode, data, ino):
    name_b = name.encode() + b"\0"
    hdr = "070701" + "".join(f"{v:08x}" for v in (
        ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name_b), 0))
    out = hdr.encode() + name_b
    out += b"\0" * (-len(out) % 4) + data
    return out + b"\0" * (-len(out) % 4)


def write_cpio_gz(root, dest):
    """A gzip'd newc archive of the tree at root: sorted, owner root, mtime 0 (reproducible)."""
    entries = []
    for d, dirs, files in os.walk(root):
        dirs.sort()
        rel = os.path.relpath(d, root)
        if rel != ".":
            entries.append(rel)
        for f in sorted(files + [x for x in dirs if os.path.islink(os.path.join(d, x))]):
            entries.append(os.path.normpath(os.path.join(rel, f)))
    tmp = dest + ".tmp"
    with gzip.GzipFile(tmp, "wb", compresslevel=1, mtime=0) as z:
        for ino, rel in enumerate(sorted(set(entries)), start=1):
            p = os.path.join(root, rel)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                data = os.readlink(p).encode()
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    data = f.read()
            else:
                data = b""
            z.write(_newc_entry(rel, st.st_mode, data, ino))
        z.write(_newc_entry("TRAILER!!!", 0, b"", 0))
    os.replace(tmp, dest)


# --- build -------------------------------------------------------------------------------------

def _inputs_digest(tree, kver, flavour, identity, files, modules):
    h = hashlib.sha256()
    h.update(f"{BUILDER_VERSION}\n{flavour}\n{identity}\n{kver}\n".encode())
    _sha256_file(__file__, h)
    _sha256_file(INIT, h)
    for dst in sorted(files):
        h.update(dst.encode())
        _sha256_file(files[dst], h)
    h.update("\n".join(modules).encode())
    if tree == "/":  # the installed kernel: its files may change under the same package version
        _sha256_file(f"/boot/vmlinuz-{kver}", h)
    return h.hexdigest()


@contextlib.contextmanager
def _locked(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def ensure_guest(vmdir=None, log=print) -> Guest:
    """The cached guest, (re)built when an input changed. Raises GuestUnavailable."""
    vmdir = vmdir or vm_dir()
    out = os.path.join(vmdir, "guest")
    with _locked(os.path.join(vmdir, "guest.lock")):
        tree, kver, flavour, source, identity = locate_kernel(vmdir)
        files = payload_files()
        mods, load = module_closure(tree, kver)
        digest = _inputs_digest(tree, kver, flavour, identity, files, mods + ["load"] + load)
        kernel, initrd = os.path.join(out, "vmlinuz"), os.path.join(out, "initrd.cpio.gz")
        stamp = os.path.join(out, "stamp")
        with contextlib.suppress(OSError), open(stamp) as f:
            if f.read().strip() == digest and os.path.exists(kernel) and os.path.exists(initrd):
                return Guest(kernel, initrd, kver, flavour, source, False)
        t0 = time.monotonic()
        log(f"vm: building the guest ({flavour} kernel {kver} from {source})")
        os.makedirs(out, exist_ok=True)
        with contextlib.suppress(OSError):
            os.remove(stamp)
        with tempfile.TemporaryDirectory(dir=out, prefix="root-") as root:
            _populate(root, tree, kver, files, mods, load)
            write_cpio_gz(root, initrd)
        shutil.copyfile(os.path.join(tree, "boot", f"vmlinuz-{kver}"), kernel)
        for p in (kernel, initrd):
            os.chmod(p, 0o644)  # QEMU runs as libvirt-qemu under libvirt
        os.chmod(out, 0o755)
        info = {"kver": kver, "flavour": flavour, "source": source, "modules": load,
                "initrd_bytes": os.path.getsize(initrd), "build_seconds":
                round(time.monotonic() - t0, 2), "inputs_sha256": digest}
        with open(os.path.join(out, "info.json"), "w") as f:
            json.dump(info, f, indent=1)
        with open(stamp, "w") as f:
            f.write(digest + "\n")
        log(f"vm: guest built in {info['build_seconds']} s, initramfs "
            f"{info['initrd_bytes'] / 1e6:.1f} MB")
        return Guest(kernel, initrd, kver, flavour, source, True)


def _populate(root, tree, kver, files, mods, load):
    for d in ("usr/bin", "usr/sbin", "usr/lib64", ARCH_LIBDIR, "etc", "proc", "sys", "dev", "run",
              "tmp", "mnt", "job"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    for link, target in (("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib"),
                         ("lib64", "usr/lib64")):
        os.symlink(target, os.path.join(root, link))
    for dst, src in files.items():
        p = os.path.join(root, dst)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        shutil.copyfile(src, p)  # follows symlinks: the real library under its soname
        os.chmod(p, 0o755)
    for name in TPM2_LINKS:
        os.symlink("tpm2", os.path.join(root, "usr/bin", name))
    shutil.copyfile(INIT, os.path.join(root, "init"))
    os.chmod(os.path.join(root, "init"), 0o755)
    mbase = os.path.join(root, "usr/lib/modules", kver)
    for rel in mods:
        p = os.path.join(mbase, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        shutil.copyfile(os.path.join(tree, "lib", "modules", kver, rel), p)
    for f in ("modules.builtin", "modules.order"):
        src = os.path.join(tree, "lib", "modules", kver, f)
        if os.path.exists(src):
            shutil.copyfile(src, os.path.join(mbase, f))
    _run(["busybox", "depmod", "-b", root, kver])
    with open(os.path.join(root, "etc", "vmt-modules"), "w") as f:
        f.write("\n".join(load) + "\n")
    with open(os.path.join(root, "etc", "os-release"), "w") as f:
        f.write('NAME="cryptnode VM tier guest"\n')
