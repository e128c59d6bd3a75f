"""A pub/sub WebSocket service with rooms (Python `websockets` from PyPI),
for tests/rooms.rs: a protocol of its own, written by nobody here. It
checks an HS256 bearer token against the secret given as its first
argument (401 otherwise) and reads its `sub`.

- `{"type": "join", "room": R}`: the sender gets `{"type": "joined",
  "room": R, "seq": S}`;
- `{"type": "say", "room": R, "text": T}`: every connection that joined R
  (the sender's too) gets `{"type": "message", "room": R, "from": <sub>,
  "text": T, "seq": S}`;

`seq` counts per connection, from 1. Prints `listening on PORT`."""

import asyncio
import json
import sys

import jwt
from websockets.asyncio.server import serve
from websockets.http11 import Response

SECRET = sys.argv[1]
members = {}  # connection -> {"sub": str, "rooms": set, "seq": int}


def authenticate(connection, request):
    token = request.headers.get("Authorization", "").removeprefix("Bearer ")
    try:
        claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    except jwt.InvalidTokenError:
        return connection.respond(401, "a valid bearer token is required\n")
    connection.subject = claims["sub"]
    return None


async def send(connection, frame):
    member = members[connection]
    member["seq"] += 1
    frame["seq"] = member["seq"]
    await connection.send(json.dumps(frame))


async def handler(connection):
    members[connection] = {"sub": connection.subject, "rooms": set(), "seq": 0}
    try:
        async for message in connection:
            frame = json.loads(message)
            if frame.get("type") == "join":
                members[connection]["rooms"].add(frame["room"])
                await send(connection, {"type": "joined", "room": frame["room"]})
            elif frame.get("type") == "say":
                for other, member in list(members.items()):
                    if frame["room"] in member["rooms"]:
                        await send(other, {"type": "message", "room": frame["room"],
                                           "from": connection.subject, "text": frame["text"]})
    finally:
        del members[connection]


async def main():
    async with serve(handler, "127.0.0.1", 0, process_request=authenticate) as server:
        print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    asyncio.run(main())
