"""A load generator that costs almost nothing: QoS 1 PUBLISH packets written straight to a socket.

paho spends ~100 µs of Python per published message (packet object, locks, a wake-up of its network
thread), so a paho publisher sharing this machine's two cores with the platform cannot reach half the
drain rate. Here a message is one ``bytes`` join, and packets leave in chunks: the generator stays a
small fraction of a core and the figure measured is the platform's, not the generator's.

MQTT 3.1.1, QoS 1, in order on one connection; a reader thread counts the PUBACKs. Packet ids are
reused only once acknowledged (at most ``inflight`` unacknowledged). For benchmarks only: no
reconnect, no TLS.
"""

from __future__ import annotations

import socket
import struct
import threading


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(s: bytes) -> bytes:
    return struct.pack("!H", len(s)) + s


def publish_packet(topic: bytes, payload: bytes, mid: int) -> bytes:
    body = _str(topic) + struct.pack("!H", mid) + payload
    return b"\x32" + _varint(len(body)) + body  # PUBLISH, QoS 1


class RawPublisher:
    def __init__(
        self, host: str, port: int, username: str, password: str, client_id: str, inflight: int = 30_000
    ) -> None:
        self.sock = socket.create_connection((host, port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        body = (
            _str(b"MQTT")
            + bytes([4, 0xC2])  # 3.1.1; username, password, clean session
            + struct.pack("!H", 60)
            + _str(client_id.encode())
            + _str(username.encode())
            + _str(password.encode())
        )
        self.sock.sendall(b"\x10" + _varint(len(body)) + body)
        connack = self._read(4)
        if connack[0] != 0x20 or connack[3] != 0:
            raise ConnectionError(f"the broker refused the connection: {connack!r}")
        self.sock.settimeout(None)
        self.inflight = inflight
        self.sent = 0
        self.acked = 0
        self._cond = threading.Condition()
        self._buf: list[bytes] = []
        self._closed = False
        self._reader = threading.Thread(target=self._read_acks, name="rawpub-acks", daemon=True)
        self._reader.start()

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("the broker closed the connection")
            data += chunk
        return data

    def _read_acks(self) -> None:
        pending = b""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return
                pending += chunk
                whole = len(pending) // 4 * 4  # PUBACKs only: 4 bytes each (0x40, 2, packet id)
                if pending[:whole].count(b"\x40\x02") < whole // 4:
                    raise ConnectionError("unexpected packet from the broker")
                with self._cond:
                    self.acked += whole // 4
                    self._cond.notify_all()
                pending = pending[whole:]
        except OSError:
            if not self._closed:
                raise

    def send(self, topic: str, payload: bytes) -> None:
        """Queue one message; it leaves with the next :meth:`push` (or when 500 are waiting)."""
        if self.sent - self.acked >= self.inflight:
            self.push()
            with self._cond:
                if not self._cond.wait_for(lambda: self.sent - self.acked < self.inflight // 2, 60):
                    raise ConnectionError("the broker stopped acknowledging")
        self.sent += 1
        self._buf.append(publish_packet(topic.encode(), payload, self.sent % 65535 + 1))
        if len(self._buf) >= 500:
            self.push()

    def push(self) -> None:
        if self._buf:
            self.sock.sendall(b"".join(self._buf))
            self._buf = []

    def flush(self, timeout: float = 60.0) -> bool:
        self.push()
        with self._cond:
            return self._cond.wait_for(lambda: self.acked >= self.sent, timeout)

    def close(self) -> None:
        self.flush(10)
        self._closed = True
        try:
            self.sock.sendall(b"\xe0\x00")  # DISCONNECT
        finally:
            self.sock.close()
        self._reader.join(5)
