"""A WebSocket service with a protocol of its own (Python `websockets` from
PyPI), for tests/contract.rs: not the reference protocol. On
`{"op": "start", "n": N}` it sends N frames `{"kind": "tick", "seq": S,
"owner": <the token's sub>, "value": <int>}` then `{"kind": "done", "seq":
S, "owner": ...}`, each with the start frame's `run`, `seq` counting per
connection; `{"op": "echo", ...}` comes back as it was sent. With
`--ping-interval SECONDS` it pings every client that often and closes
(1011) a connection whose pong is a second late. With `--resume` the
sequence counts per user across connections and `{"op": "resume",
"after": S}` sends again every frame of the user after S, then `{"kind":
"resumed", "after": S, "replayed": N}`; `--lose-on-resume` also makes it
lose the first frame of each replay (the bug a resume test must catch).
`"fault"` in the
start frame breaks one rule on purpose: gap, repeat, owner, type, unknown,
after_done. Prints `listening on PORT`."""

import argparse
import asyncio
import json

from token_subject import subject
from websockets.asyncio.server import serve


ARGS = None
# With --resume: each user's frames, and so its last sequence value.
LOGS = {}


async def handler(websocket):
    owner = subject(websocket.request)
    log = LOGS.setdefault(owner, []) if ARGS.resume else []
    seq = len(log)

    async def send(frame):
        log.append(frame)
        await websocket.send(json.dumps(frame))

    async for message in websocket:
        start = json.loads(message)
        if start.get("op") == "echo":
            await websocket.send(message)
            continue
        if start.get("op") == "resume" and ARGS.resume:
            after = start["after"]
            missed = [f for f in log if f["seq"] > after]
            if ARGS.lose_on_resume:
                missed = missed[1:]
            for frame in missed:
                await websocket.send(json.dumps(frame))
            await websocket.send(json.dumps({"kind": "resumed", "after": after, "replayed": len(missed)}))
            continue
        if ARGS.resume:
            seq = len(log)
        fault = start.get("fault")
        run = start.get("run", "r")
        for i in range(start.get("n", 1)):
            seq += 1
            frame = {"kind": "tick", "seq": seq, "owner": owner, "run": run, "value": i}
            if fault == "gap" and i == 1:
                seq += 1
                frame["seq"] = seq
            if fault == "repeat" and i == 1:
                seq -= 1
                frame["seq"] = seq
            if fault == "owner" and i == 1:
                frame["owner"] = "somebody-else"
            if fault == "type" and i == 1:
                frame["value"] = "one"
            if fault == "unknown" and i == 1:
                frame["kind"] = "tock"
            await send(frame)
        seq += 1
        await send({"kind": "done", "seq": seq, "owner": owner, "run": run})
        if fault == "after_done":
            seq += 1
            await send({"kind": "tick", "seq": seq, "owner": owner, "run": run, "value": 0})


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ping-interval", type=float, default=None)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--lose-on-resume", action="store_true")
    global ARGS
    ARGS = parser.parse_args()
    ARGS.resume = ARGS.resume or ARGS.lose_on_resume
    async with serve(
        handler, "127.0.0.1", 0, ping_interval=ARGS.ping_interval, ping_timeout=1.0
    ) as server:
        print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    asyncio.run(main())
