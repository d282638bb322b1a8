"""The job disk: a tar archive the guest's /init unpacks to /job and runs (/job/run.sh). It holds
the shell helpers (vmtests/guest/lib.sh), one job script (vmtests/guest/jobs/<name>.sh), the
manifest the test wrote and any extra files (a scenario, a LUKS2 token). Test keys only: the
manifest carries what the guest needs to rebuild each passphrase."""

from __future__ import annotations

import io
import os
import tarfile

from . import REPO

GUEST_DIR = os.path.join(REPO, "vmtests", "guest")


class Job:
    def __init__(self, script: str):
        path = os.path.join(GUEST_DIR, "jobs", script + ".sh")
        if not os.path.exists(path):
            raise ValueError(f"no guest job {script!r} ({path})")
        self.script = script
        self.lines: list[str] = []
        self.files: dict[str, bytes] = {}

    def line(self, *fields) -> "Job":
        """One manifest line; fields must not contain whitespace."""
        text = [str(f) for f in fields]
        for f in text:
            if not f or any(c.isspace() for c in f):
                raise ValueError(f"manifest field {f!r} is empty or has whitespace")
        self.lines.append(" ".join(text))
        return self

    def add_file(self, name: str, data) -> "Job":
        if "/" in name or name in ("run.sh", "lib.sh", "manifest"):
            raise ValueError(f"bad job file name {name!r}")
        self.files[name] = data.encode() if isinstance(data, str) else bytes(data)
        return self

    def write(self, dest: str) -> str:
        """The tar archive at dest, padded to whole 512-byte sectors (a virtio disk)."""
        with open(os.path.join(GUEST_DIR, "lib.sh"), "rb") as f:
            lib = f.read()
        with open(os.path.join(GUEST_DIR, "jobs", self.script + ".sh"), "rb") as f:
            body = f.read()
        members = {
            "lib.sh": lib,
            f"{self.script}.sh": body,
            "run.sh": f". /job/lib.sh\n. /job/{self.script}.sh\n".encode(),
            "manifest": ("\n".join(self.lines) + "\n").encode(),
            **self.files,
        }
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(data), 0o644
                t.addfile(info, io.BytesIO(data))
        raw = buf.getvalue()
        raw += b"\0" * (-len(raw) % (64 * 1024))
        with open(dest, "wb") as f:
            f.write(raw)
        os.chmod(dest, 0o644)
        return dest
