"""The Python peer of the benchmark suite.

The PROTOCOL.md golden path on the `websockets` library, as the seed team
would serve it: HS256 JWT from `Authorization: Bearer`, every frame parsed
and validated as JSON, per-user gapless event ids, the five required events
of a default run as flat JSON objects. Only what the benchmarks exercise:
no scenarios, no replay buffer, no /health, no monitors.

    python bench/peers/python_peer.py --listen 127.0.0.1:0 --jwt-secret SECRET

Prints `listening on HOST:PORT` first, like `ws-harness serve`.
"""

import argparse
import asyncio
import datetime
import http
import json
import uuid

import jwt
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

AGENT_NAME = "python-peer"
MAX_ID = 128
MAX_CONTENT = 64 * 1024

next_event_id = {}


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def refuse(connection, code):
    body = json.dumps({"error": code}) + "\n"
    return connection.respond(http.HTTPStatus.UNAUTHORIZED, body)


def authenticator(secret):
    def authenticate(connection, request):
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return refuse(connection, "missing_token")
        try:
            claims = jwt.decode(header[len("Bearer "):], secret, algorithms=["HS256"], options={"require": ["exp", "sub"]})
        except jwt.ExpiredSignatureError:
            return refuse(connection, "expired_token")
        except jwt.InvalidTokenError:
            return refuse(connection, "invalid_token")
        sub = claims["sub"]
        if not isinstance(sub, str) or not 1 <= len(sub) <= MAX_ID:
            return refuse(connection, "invalid_token")
        connection.user_id = sub
        return None

    return authenticate


def error(code, message, **extra):
    return json.dumps({"type": "error", "code": code, "message": message, **extra})


def invalid_field(message):
    for field in ("message_id", "thread_id"):
        value = message.get(field)
        if not isinstance(value, str) or not 1 <= len(value) <= MAX_ID:
            return field
    if not isinstance(message.get("content"), str):
        return "content"
    return None


async def agent_run(ws, user_id, message):
    started = datetime.datetime.now()
    common = {
        "user_id": user_id,
        "thread_id": message["thread_id"],
        "run_id": str(uuid.uuid4()),
        "message_id": message["message_id"],
        "agent_name": AGENT_NAME,
        "critical": True,
    }
    elapsed_ms = lambda: int((datetime.datetime.now() - started).total_seconds() * 1000)
    steps = [
        ("agent_started", {}),
        ("agent_thinking", {"thought": "step 1 of 1"}),
        ("tool_executing", {"tool_name": "search", "tool_input": {"query": message["content"]}}),
        ("tool_completed", {"tool_name": "search", "result": {"ok": True}, "duration_ms": 0}),
        ("agent_completed", {"final_response": "done"}),
    ]
    for kind, extra in steps:
        event_id = next_event_id.get(user_id, 1)
        next_event_id[user_id] = event_id + 1
        if kind == "agent_completed":
            extra["duration_ms"] = elapsed_ms()
        event = {"type": kind, "event_id": event_id, "timestamp": now(), **common, **extra}
        await ws.send(json.dumps(event))


async def handler(ws):
    try:
        await serve_user(ws, ws.user_id)
    except ConnectionClosed:
        pass  # a client that leaves without a close frame is not an error here


async def serve_user(ws, user_id):
    async for frame in ws:
        if isinstance(frame, bytes):
            await ws.close(1003, "binary frames are not accepted")
            return
        try:
            message = json.loads(frame)
        except ValueError:
            await ws.send(error("invalid_json", "the frame is not a JSON object"))
            continue
        if not isinstance(message, dict):
            await ws.send(error("invalid_json", "the frame is not a JSON object"))
            continue
        kind = message.get("type")
        if kind == "ping":
            await ws.send(json.dumps({"type": "pong", "nonce": message.get("nonce")}))
        elif kind == "user_message":
            field = invalid_field(message)
            if field is not None:
                await ws.send(error("invalid_field", f"{field} is missing or invalid", field=field))
            elif len(message["content"].encode()) > MAX_CONTENT:
                await ws.send(error("message_too_large", "content is over 64 KiB"))
            else:
                await agent_run(ws, user_id, message)
        else:
            await ws.send(error("unknown_type", f"unknown type {kind!r}"))


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:0")
    parser.add_argument("--jwt-secret", required=True)
    args = parser.parse_args()
    host, port = args.listen.rsplit(":", 1)
    # backlog 1024 as tokio's listener, so connect figures compare servers, not queues.
    async with serve(handler, host, int(port), process_request=authenticator(args.jwt_secret), backlog=1024) as server:
        address = server.sockets[0].getsockname()
        print(f"listening on {address[0]}:{address[1]}", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
