"""The waitress server that both HTTP faces run on (the hub's API, a sidecar's /notify), bounded so
that idle or slow clients cannot starve it.

waitress reads requests on one thread and only hands a complete request to a worker, so an idle
or slow connection costs a socket, never a worker. What it does not bound on its own: a client
that trickles a byte now and then is never idle, and one client may fill the whole connection
limit. Here a request must arrive whole within `request_deadline` seconds of its first byte, a
silent connection is closed after `idle_timeout`, and one peer address holds at most
`per_client` connections; further ones are closed at once, so other clients still get in. Loopback
peers are exempt from that share (every local agent and the operator come from 127.0.0.1, so a
share would let one local client lock the others out); the total limit bounds them.
Errors waitress answers itself (a malformed request, headers or body over the bounds) are JSON,
like every other answer.
"""
from __future__ import annotations

import ipaddress
import json
import logging
import time
from dataclasses import dataclass

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher

log = logging.getLogger("agentcom.webserver")


@dataclass(frozen=True)
class Bounds:
    threads: int
    connections: int       # open connections in all; then the listener waits
    per_client: int        # open connections from one peer address
    idle_timeout: float    # seconds a connection may sit silent between requests
    request_deadline: float  # seconds from a request's first byte to its last
    max_body: int          # bytes; the app may set a smaller bound per endpoint
    max_header: int = 32 * 1024
    cap_loopback: bool = False  # loopback peers are this machine: the agents and the operator share one address


class JsonErrorTask(ErrorTask):
    """waitress's own error answers (400, 413, 431...) as JSON instead of text."""

    def execute(self):
        e = self.request.error
        body = json.dumps({"error": e.reason.replace(" ", ""), "message": str(e.body)[:200]}).encode()
        self.status = f"{e.code} {e.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class BoundedChannel(HTTPChannel):
    """A connection that knows when the request it is receiving began."""

    error_task_class = JsonErrorTask
    started: float | None = None

    def received(self, data):
        pending = self.request
        result = super().received(data)
        if self.request is None:
            self.started = None  # nothing half-received
        elif self.request is not pending or self.started is None:
            self.started = time.time()  # the first bytes of a new request
        return result


class BoundedServer(TcpWSGIServer):
    channel_class = BoundedChannel

    def __init__(self, *args, bounds: Bounds, **kwargs):
        self.bounds = bounds
        super().__init__(*args, **kwargs)

    def handle_accept(self):
        try:
            accepted = self.accept()
            if accepted is None:
                return
            conn, addr = accepted
            self.set_socket_options(conn)
        except OSError:
            return  # the peer went away before we got to it
        addr = self.fix_addr(addr)
        peer = addr[0] if isinstance(addr, tuple) else addr
        held = sum(1 for c in self.active_channels.values() if _peer(c) == peer) if self._capped(peer) else 0
        if held >= self.bounds.per_client:
            log.warning("refused a connection from %s: it holds %d already", peer, held)
            conn.close()
            return
        self.channel_class(self, conn, addr, self.adj, map=self._map)

    def _capped(self, peer) -> bool:
        try:
            return self.bounds.cap_loopback or not ipaddress.ip_address(peer).is_loopback
        except ValueError:
            return True

    def maintenance(self, now):
        super().maintenance(now)  # closes connections silent for longer than idle_timeout
        cutoff = now - self.bounds.request_deadline
        for channel in list(self.active_channels.values()):
            started = getattr(channel, "started", None)
            if started is not None and started < cutoff and not channel.requests:
                channel.will_close = True  # trickling a request slower than the deadline allows


def _peer(channel) -> object:
    addr = getattr(channel, "addr", None)
    return addr[0] if isinstance(addr, tuple) else addr


def create(app, host: str, port: int, bounds: Bounds, ident: str) -> BoundedServer:
    """A listening server (call `run()`; `close()` and `task_dispatcher.shutdown()` to stop).
    A name that resolves to several addresses is served on the first."""
    adj = Adjustments(host=host, port=port, threads=bounds.threads, ident=ident,
                      connection_limit=bounds.connections, channel_timeout=bounds.idle_timeout,
                      cleanup_interval=1, max_request_body_size=bounds.max_body,
                      max_request_header_size=bounds.max_header,
                      asyncore_use_poll=True)  # select() cannot watch sockets numbered past 1023
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    return BoundedServer(app, {}, True, None, dispatcher=dispatcher, adj=adj, sockinfo=adj.listen[0],
                         bounds=bounds)
