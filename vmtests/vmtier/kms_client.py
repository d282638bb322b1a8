"""A minimal sidero.kms.KMSService client (siderolabs/kms-client `api/kms/kms.proto`: Seal and
Unseal, Request{node_uuid=1, data=2}, Response{data=1}) over plaintext HTTP/2, for the VM tests'
KMS keys: the host unseals a volume's sealedData so the guest can rebuild the passphrase
(base64 of the 32 key bytes, internal/pkg/encryption/keys/kms.go), and seals a fresh key for a
volume the guest formats. Debian has no grpcio for this interpreter's build tree and PyPI is out of
reach, hence the few frames by hand: prior-knowledge h2c, HPACK literals without indexing, one
unary call per connection; response headers are not decoded (a call that returns no message
fails)."""

from __future__ import annotations

import socket
import struct
from urllib.parse import urlparse

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY = 0, 1, 3, 4, 6, 7
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4


class KmsError(Exception):
    pass


def _frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(
        ">I", stream) + payload


def _hpack_literal(name: str, value: str) -> bytes:
    def s(x: bytes) -> bytes:
        if len(x) >= 127:
            raise ValueError("header too long for this client")
        return bytes([len(x)]) + x

    return b"\x00" + s(name.encode()) + s(value.encode())


def _varint(n: int) -> bytes:
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def _field(num: int, data: bytes) -> bytes:
    return _varint(num << 3 | 2) + _varint(len(data)) + data


def _response_data(msg: bytes) -> bytes:
    i = 0
    while i < len(msg):
        key, i = _read_varint(msg, i)
        if key & 7 != 2:
            raise KmsError(f"unexpected wire type in Response: {key & 7}")
        n, i = _read_varint(msg, i)
        if key >> 3 == 1:
            return msg[i:i + n]
        i += n
    return b""


def _read_varint(buf, i):
    n = shift = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def _recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise KmsError("connection closed by the KMS")
        buf += chunk
    return buf


def call(endpoint: str, method: str, node_uuid: str, data: bytes, timeout=10.0) -> bytes:
    """Unary /sidero.kms.KMSService/<method> on a grpc:// (plaintext) endpoint."""
    u = urlparse(endpoint if "://" in endpoint else "grpc://" + endpoint)
    if u.scheme != "grpc":
        raise KmsError(f"only plaintext grpc:// endpoints are supported here, not {endpoint!r}")
    req = _field(1, node_uuid.encode()) + _field(2, data)
    headers = b"".join(_hpack_literal(k, v) for k, v in (
        (":method", "POST"), (":scheme", "http"), (":path", f"/sidero.kms.KMSService/{method}"),
        (":authority", u.netloc), ("content-type", "application/grpc"), ("te", "trailers")))
    with socket.create_connection((u.hostname, u.port), timeout=timeout) as s:
        s.sendall(PREFACE + _frame(SETTINGS, 0, 0) + _frame(HEADERS, END_HEADERS, 1, headers)
                  + _frame(DATA, END_STREAM, 1, b"\x00" + struct.pack(">I", len(req)) + req))
        body = b""
        while True:
            hdr = _recv_exact(s, 9)
            length = int.from_bytes(hdr[:3], "big")
            ftype, flags, stream = hdr[3], hdr[4], int.from_bytes(hdr[5:], "big") & 0x7FFFFFFF
            payload = _recv_exact(s, length)
            if ftype == SETTINGS and not flags & ACK:
                s.sendall(_frame(SETTINGS, ACK, 0))
            elif ftype == PING and not flags & ACK:
                s.sendall(_frame(PING, ACK, 0, payload))
            elif ftype == DATA and stream == 1:
                body += payload
            elif ftype in (RST_STREAM, GOAWAY):
                raise KmsError(f"KMS {method}: stream reset or connection closed (frame {ftype})")
            if stream == 1 and ftype in (DATA, HEADERS) and flags & END_STREAM:
                break
    if len(body) < 5:
        raise KmsError(f"KMS {method} returned no message (an error status)")
    n = int.from_bytes(body[1:5], "big")
    return _response_data(body[5:5 + n])


def unseal(endpoint: str, node_uuid: str, sealed: bytes) -> bytes:
    return call(endpoint, "Unseal", node_uuid, sealed)


def seal(endpoint: str, node_uuid: str, key: bytes) -> bytes:
    return call(endpoint, "Seal", node_uuid, key)
