"""What trail's two HTTP servers (`trail serve`, `trail otel serve`) share: listening on 127.0.0.1 unless told
otherwise, the URL to print, and the Host headers to answer (a page on another site must not reach a server on
127.0.0.1 through a DNS name rebound to it)."""

from __future__ import annotations

import ipaddress
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WILDCARDS = ("0.0.0.0", "::", "")


class LocalServer(ThreadingHTTPServer):
    """A threading HTTP server on `host` (IPv4 or IPv6) and `port` (0: a free one)."""

    daemon_threads = True
    allow_reuse_address = True
    path = "/"  # what `url` points at

    def __init__(self, host: str, port: int, handler: type[BaseHTTPRequestHandler], any_name: bool = False) -> None:
        """`any_name`: listening on every address, answer any Host (a receiver other machines post to);
        otherwise only the machine's own names."""
        self.host = host
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), handler)
        self.port = int(self.server_address[1])
        self.allowed_hosts = allowed_hosts(host, self.port, any_name)

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def url(self) -> str:
        shown = "127.0.0.1" if self.host in WILDCARDS else self.host
        if ":" in shown:
            shown = f"[{shown}]"
        return f"http://{shown}:{self.port}{self.path}"

    def answers_to(self, host_header: str | None) -> bool:
        """Whether a request with this Host header is meant for this server."""
        return self.allowed_hosts is None or (host_header or "").strip().lower() in self.allowed_hosts


def allowed_hosts(host: str, port: int, any_name: bool = False) -> frozenset[str] | None:
    """The Host headers a request may carry; None (any) when listening on every address with `any_name`."""
    names = {"127.0.0.1", "localhost", "[::1]"}
    if host in WILDCARDS:
        if any_name:
            return None
        try:
            names.add(socket.gethostname().lower())
            names.add(socket.getfqdn().lower())
            names.update(socket.gethostbyname_ex(socket.gethostname())[2])
        except OSError:
            pass
    else:
        names.add(f"[{host}]" if ":" in host else host.lower())
    allowed = {f"{name}:{port}" for name in names}
    if port == 80:
        allowed |= names
    return frozenset(allowed)
