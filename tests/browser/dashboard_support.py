"""What the dashboard tests share: a TCP proxy in front of the shared Cassandra (stopping it is a
Cassandra outage for the dashboard only, the shared server keeps running), the environment that
points the dashboard at a keyspace, and decoding of Plotly figure JSON (plotly 6 packs arrays)."""

from __future__ import annotations

import base64
import json
import socket
import threading
from typing import Any

import numpy as np


class TcpProxy:
    """Forwards 127.0.0.1:<port> to upstream; `stop()` closes the listener and every connection."""

    def __init__(self, port: int, upstream: tuple[str, int]) -> None:
        self.port, self.upstream = port, upstream
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> TcpProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._sockets += [client, server]
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


def dashboard_env(keyspace: str, topic: str, symbols: str, cassandra_port: int | None = None) -> dict[str, str]:
    env = {"CASSANDRA_KEYSPACE": keyspace, "KAFKA_TOPIC": topic, "TICKPLANT_SYMBOLS": symbols}
    if cassandra_port is not None:
        env["CASSANDRA_PORT"] = str(cassandra_port)
    return env


def decode(value: Any) -> list:
    """A Plotly JSON array as a list: plain lists as they are, packed {'dtype', 'bdata'} arrays unpacked."""
    if isinstance(value, dict) and "bdata" in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        if "shape" in value:
            array = array.reshape([int(n) for n in str(value["shape"]).split(",")])
        return array.tolist()
    return list(value) if value is not None else []


def figure_of(element: Any) -> dict[str, Any]:
    """The Plotly figure dict of an AppTest plotly_chart element."""
    return json.loads(element.proto.spec)


def trace(figure: dict[str, Any], name: str) -> dict[str, Any]:
    matches = [t for t in figure["data"] if t.get("name") == name]
    assert matches, f"no trace {name!r} in {[t.get('name') for t in figure['data']]}"
    return matches[0]
