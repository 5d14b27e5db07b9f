"""A threaded TCP proxy that can cut the link to a backend on demand."""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time

FORWARD, REFUSE, BLACKHOLE, FREEZE = "forward", "refuse", "blackhole", "freeze"


class Proxy:
    """127.0.0.1:<port> → backend. `cut(mode)` closes every open connection and then
    refuses new ones (REFUSE: nothing listens) or accepts them and never answers
    (BLACKHOLE). `cut(FREEZE)` is a database that stops answering: every connection
    stays open, new ones are accepted, and nothing is forwarded either way.
    `restore()` forwards again on the same port."""

    def __init__(self, backend: tuple[str, int]):
        self.backend = backend
        self.mode = FORWARD
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._listener = self._listen(0)
        self.port = self._listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    def _listen(self, port: int) -> socket.socket:
        for attempt in range(50):  # the old listener may take a moment to go
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                listener.bind(("127.0.0.1", port))
            except OSError:
                listener.close()
                if attempt == 49:
                    raise
                time.sleep(0.05)
                continue
            listener.listen(64)
            listener.settimeout(0.2)
            return listener
        raise AssertionError("unreachable")

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            listener = self._listener
            if listener is None:  # REFUSE: the port is closed
                self._stopping.wait(0.05)
                continue
            try:
                client, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            with self._lock:
                self._sockets.add(client)
                mode = self.mode
            if mode in (BLACKHOLE, FREEZE):
                continue  # held open, never read, never answered
            if mode == REFUSE:  # accepted in the instant the listener was closing
                self._close(client)
                continue
            try:
                upstream = socket.create_connection(self.backend, timeout=5)
            except OSError:
                self._close(client)
                continue
            with self._lock:
                self._sockets.add(upstream)
            threading.Thread(
                target=self._pump, args=(client, upstream), daemon=True
            ).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        try:
            while not self._stopping.is_set():
                if self.mode == FREEZE:  # bytes stay in the kernel's buffers
                    self._stopping.wait(0.05)
                    continue
                readable, _, _ = select.select([a, b], [], [], 0.2)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            self._close(a)
            self._close(b)

    def _close(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        try:  # RST rather than FIN: the peer sees the link die, not a clean goodbye
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
        except OSError:
            pass
        sock.close()

    def cut(self, mode: str) -> None:
        assert mode in (REFUSE, BLACKHOLE, FREEZE)
        if mode == FREEZE:
            self.mode = FREEZE  # the pumps stop; nothing is closed
            return
        with self._lock:
            self.mode = mode
            sockets = list(self._sockets)
            if mode == REFUSE:  # shutdown() wakes a blocked accept() and unlistens
                with contextlib.suppress(OSError):
                    self._listener.shutdown(socket.SHUT_RDWR)
                self._listener.close()
                self._listener = None
        for sock in sockets:
            self._close(sock)

    def restore(self) -> None:
        with self._lock:
            # Connections accepted while cut never reached the backend; a frozen
            # one is mid-conversation with a client that gave up on it.
            held = list(self._sockets) if self.mode in (BLACKHOLE, FREEZE) else []
            if self._listener is None:
                self._listener = self._listen(self.port)
            self.mode = FORWARD
        for sock in held:
            self._close(sock)

    def close(self) -> None:
        self._stopping.set()
        self._acceptor.join(timeout=5)
        with self._lock:
            sockets = list(self._sockets)
            if self._listener is not None:
                self._listener.close()
        for sock in sockets:
            self._close(sock)
