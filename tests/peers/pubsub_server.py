"""A pub/sub WebSocket service with a protocol of its own (Python
`websockets` from PyPI), for tests/scenarios.rs: not the reference
protocol. `{"action": "subscribe", "room": R}` answers `{"event":
"subscribed", "room": R, "members": N, "seq": S}`; `{"action": "publish",
"room": R, "text": T}` sends every member of R (the publisher too)
`{"event": "message", "room": R, "from": <the publisher's token sub>,
"text": T, "seq": S}`. `seq` counts the frames of each connection from 1.

`--bug NAME` makes it misbehave on purpose:
- `lose-message`: the last member to subscribe never gets messages;
- `seq-gap`: a message skips a `seq` value;
- `wrong-kind`: messages say `"event": "msg"`;
- `wrong-sender`: messages name someone else in `from`.
Prints `listening on PORT`."""

import argparse
import asyncio
import json

from token_subject import subject
from websockets.asyncio.server import serve


BUG = None
ROOMS = {}




class Member:
    def __init__(self, websocket):
        self.websocket = websocket
        self.seq = 0

    async def send(self, frame, skip=0):
        self.seq += 1 + skip
        await self.websocket.send(json.dumps({**frame, "seq": self.seq}))


async def handler(websocket):
    me = Member(websocket)
    who = subject(websocket.request)
    joined = []
    try:
        async for message in websocket:
            request = json.loads(message)
            room = request.get("room", "")
            if request.get("action") == "subscribe":
                members = ROOMS.setdefault(room, [])
                members.append(me)
                joined.append(room)
                await me.send({"event": "subscribed", "room": room, "members": len(members)})
            elif request.get("action") == "publish":
                members = ROOMS.get(room, [])
                for member in list(members):
                    if BUG == "lose-message" and len(members) > 1 and member is members[-1]:
                        continue
                    frame = {
                        "event": "msg" if BUG == "wrong-kind" else "message",
                        "room": room,
                        "from": "somebody-else" if BUG == "wrong-sender" else who,
                        "text": request.get("text", ""),
                    }
                    await member.send(frame, skip=1 if BUG == "seq-gap" else 0)
    finally:
        for room in joined:
            ROOMS[room].remove(me)


async def main():
    global BUG
    parser = argparse.ArgumentParser()
    parser.add_argument("--bug", choices=["lose-message", "seq-gap", "wrong-kind", "wrong-sender"])
    BUG = parser.parse_args().bug
    async with serve(handler, "127.0.0.1", 0) as server:
        print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    asyncio.run(main())
