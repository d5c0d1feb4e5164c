"""`trail otel serve`: an OTLP/HTTP trace receiver (POST /v1/traces) that records GenAI spans as steps.

Bodies are protobuf (application/x-protobuf) or OTLP JSON (application/json), gzip-encoded or not; the answer is an
ExportTraceServiceResponse in the request's encoding, and a refusal a google.rpc.Status saying what is wrong: 400 a
bad body, 404 another path, 405 another method, 413 too large, 415 another content type or encoding, 421 a Host
that is not this server, 500 a failure to record and 503 while stopping (an exporter retries those: spans recorded
before are skipped). Decoding runs in each request's thread; recording goes through one OtelRecorder, which
serializes the batches of this process and takes the sessions' locks against other writers.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from trail.adapters import otel
from trail.adapters.otel_import import OtelRecorder, RecordResult
from trail.errors import TrailError
from trail.localhttp import LocalServer
from trail.repo import TrailRepo

PATH = "/v1/traces"
MAX_BODY = 64 << 20  # bytes, after decompression too
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# google.rpc.Code values for the Status of a refusal.
_RPC_CODE = {400: 3, 404: 5, 405: 12, 413: 8, 415: 3, 421: 7, 500: 13, 503: 14}


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class OtlpServer(LocalServer):
    """The receiver of one repository. On close it waits for the batches being recorded (`finish`), not for the
    idle keep-alive connections exporters hold open."""

    block_on_close = False
    path = PATH

    def __init__(self, repo: TrailRepo, host: str, port: int, log: Callable[[str], None] | None = None) -> None:
        self.recorder = OtelRecorder(repo)
        self.log = log
        super().__init__(host, port, OtlpHandler, any_name=True)
        self.closing = False
        self._busy = 0
        self._idle = threading.Condition()

    def record(self, spans: list[otel.OtelSpan]) -> RecordResult:
        with self._idle:
            if self.closing:
                raise Refused(503, "trail otel serve is stopping: send the spans again once it runs")
            self._busy += 1
        try:
            result = self.recorder.record(spans)
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()
        if self.log is not None and (result.steps or result.duplicates):
            self.log(result.summary())
        return result

    def finish(self, timeout: float = 120.0) -> bool:
        """Refuse new batches and wait for those being recorded; False if one is still running at `timeout`."""
        with self._idle:
            self.closing = True
            return self._idle.wait_for(lambda: self._busy == 0, timeout)


def make_server(
    repo: TrailRepo, host: str = "127.0.0.1", port: int = 4318, log: Callable[[str], None] | None = None
) -> OtlpServer:
    otel.proto()  # the package missing is said now, not at the first request
    try:
        return OtlpServer(repo, host, port, log)
    except socket.gaierror:
        raise TrailError(f"cannot listen on {host!r}: it is not an address of this machine; try 127.0.0.1") from None
    except OSError as e:
        if e.errno in (98, 48, 10048):
            raise TrailError(f"port {port} is in use: choose another with --port (0 picks a free one)") from None
        raise TrailError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None


class OtlpHandler(BaseHTTPRequestHandler):
    server: OtlpServer
    protocol_version = "HTTP/1.1"

    def version_string(self) -> str:
        return "trail"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the name http.server calls
        pass  # each batch is reported by the server's log; request lines would drown it

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):
            return self._not_allowed
        raise AttributeError(name)

    def _not_allowed(self) -> None:
        self.close_connection = True  # a body it may have sent is not read
        self._refuse(Refused(405, f"{self.command} is not answered here: POST OTLP traces to {PATH}"), None)

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        encoding: str | None = None
        try:
            encoding = self._encoding()
            body = self._body()
            self._check_target()
            request = otel.parse_protobuf(body) if encoding == PROTOBUF else otel.parse_json(body)
            spans = otel.spans_of(request)
            try:
                self.server.record(spans)
            except TrailError as e:
                raise Refused(500, f"trail could not record the spans: {e}") from None
            answer = otel.proto().Response()
            data = answer.SerializeToString() if encoding == PROTOBUF else b"{}"
            self._send(200, encoding, data)
        except otel.OtlpError as e:
            self._refuse(Refused(400, str(e)), encoding)
        except Refused as e:
            self._refuse(e, encoding)
        except Exception as e:  # noqa: BLE001 - a bug must answer 500, not drop the connection
            print(f"trail otel serve: unexpected error: {e!r}", file=sys.stderr)
            self._refuse(Refused(500, f"unexpected error in trail: {type(e).__name__}"), encoding)

    def _check_target(self) -> None:
        host = (self.headers.get("Host") or "").strip().lower()
        if not self.server.answers_to(host):
            raise Refused(421, f"Host {host!r} is not this server; use {self.server.url}")
        if self.path.split("?", 1)[0] != PATH:
            raise Refused(404, f"{self.path} is not here: POST OTLP traces to {PATH}")

    def _encoding(self) -> str:
        kind = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if kind in (PROTOBUF, JSON):
            return kind
        self._drain()
        raise Refused(415, f"Content-Type {kind or '(none)'} is not OTLP: send {PROTOBUF} or {JSON}")

    def _drain(self) -> None:
        length = self.headers.get("Content-Length")
        if length and length.isdigit() and int(length) <= MAX_BODY:
            self.rfile.read(int(length))
        else:
            self.close_connection = True

    def _body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = self._chunked()
        elif length is None or not length.strip().isdigit():
            self.close_connection = True
            raise Refused(400, "a request needs a Content-Length (or chunked transfer encoding)")
        else:
            size = int(length)
            if size > MAX_BODY:
                self.close_connection = True
                raise Refused(413, f"the body is over {MAX_BODY >> 20} MB: send smaller batches")
            data = self.rfile.read(size)
        coding = (self.headers.get("Content-Encoding") or "identity").strip().lower()
        if coding == "gzip":
            try:
                inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                data = inflater.decompress(data, MAX_BODY + 1)
            except zlib.error as e:
                raise Refused(400, f"the body is not valid gzip ({e})") from None
            if len(data) > MAX_BODY:
                raise Refused(413, f"the body is over {MAX_BODY >> 20} MB once decompressed: send smaller batches")
        elif coding not in ("identity", ""):
            raise Refused(415, f"Content-Encoding {coding} is not supported: send gzip or no encoding")
        return data

    def _chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                raise Refused(400, "the chunked body is malformed") from None
            if size == 0:
                while self.rfile.readline(1024).strip():
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_BODY:
                self.close_connection = True
                raise Refused(413, f"the body is over {MAX_BODY >> 20} MB: send smaller batches")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _refuse(self, refused: Refused, encoding: str | None) -> None:
        code = _RPC_CODE.get(refused.status, 2)
        if encoding == PROTOBUF:
            self._send(refused.status, PROTOBUF, _status_protobuf(code, refused.message))
        elif encoding == JSON:
            self._send(refused.status, JSON, json.dumps({"code": code, "message": refused.message}).encode())
        else:
            self._send(refused.status, "text/plain; charset=utf-8", (refused.message + "\n").encode())

    def _send(self, status: int, content_type: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if status == 405:
            self.send_header("Allow", "POST")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)


def _status_protobuf(code: int, message: str) -> bytes:
    """A google.rpc.Status (code = 1, message = 2) in protobuf, written by hand: its class is not in
    opentelemetry-proto."""
    text = message.encode()
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
