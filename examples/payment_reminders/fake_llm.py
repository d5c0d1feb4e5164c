"""A stand-in for the OpenAI API on 127.0.0.1: answers /v1/chat/completions the way the API does, from a script,
so the example runs offline and the same way every time (the real `openai` client talks to it unchanged).

The planner's model is asked to find who gets a reminder: it asks for the `run_sql` tool with a query on the
`overdue_invoices` view, and forgets `active = 1` (the bug the example is about). Once it has the rows, it hands
them over. The mailer's model writes one short reminder per customer.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "gpt-4.1-mini"
THE_QUERY = "SELECT customer_id, name, email, amount, due_date FROM overdue_invoices ORDER BY due_date"


def answer(request: dict[str, Any]) -> dict[str, Any]:
    """The message the scripted model answers `request` with."""
    messages = request.get("messages") or []
    last = messages[-1] if messages else {}
    if last.get("role") == "tool":  # the planner got its rows
        rows = json.loads(last.get("content") or "[]")
        names = ", ".join(r["name"] for r in rows)
        return {
            "role": "assistant",
            "content": f"{len(rows)} customers have overdue invoices: {names}. Every one of them gets a reminder.",
        }
    text = str(last.get("content") or "")
    if request.get("tools"):  # the planner, asked who to remind
        return {
            "role": "assistant",
            "content": "I'll look up the overdue invoices.",
            "tool_calls": [
                {
                    "id": "call_overdue_1",
                    "type": "function",
                    "function": {"name": "run_sql", "arguments": json.dumps({"query": THE_QUERY})},
                }
            ],
        }
    name = text.split("Customer: ", 1)[-1].split("\n", 1)[0] if "Customer: " in text else "customer"
    return {
        "role": "assistant",
        "content": f"Dear {name},\n\nour records show an overdue invoice. Please pay it at your earliest "
        "convenience.\n\nKind regards,\nAccounts",
    }


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not self.path.endswith("/chat/completions"):
            self._send(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})
            return
        request = json.loads(body)
        message = answer(request)
        prompt_tokens = sum(len(str(m.get("content") or "")) // 4 + 4 for m in request.get("messages") or [])
        completion_tokens = len(str(message.get("content") or "")) // 4 + 1
        self._send(
            200,
            {
                "id": f"chatcmpl-{time.time_ns()}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": MODEL,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            },
        )

    def _send(self, status: int, data: dict[str, Any]) -> None:
        raw = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        pass


def start() -> tuple[ThreadingHTTPServer, str]:
    """Serve in a thread on a free port of 127.0.0.1; returns the server and the base URL for the client."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"
