"""A WebSocket client nobody here wrote (Python `websockets` from PyPI) for
tests/mock.rs. Connects to URL (trusting --ca for wss://), then goes through
its steps: `recv` prints the next message, anything else is sent as a text
frame. Then prints every message until the connection ends, and last
`closed CODE REASON` (`closed 1006` when it was dropped without a close)."""

import argparse
import asyncio
import ssl

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("steps", nargs="*")
    parser.add_argument("--ca", help="PEM file of the CA to trust")
    args = parser.parse_args()
    context = ssl.create_default_context(cafile=args.ca) if args.ca else None
    async with connect(args.url, ssl=context) as ws:
        try:
            for step in args.steps:
                if step == "recv":
                    print(await ws.recv(), flush=True)
                else:
                    await ws.send(step)
            async for message in ws:
                print(message, flush=True)
        except ConnectionClosed:
            pass
        close = ws.protocol.close_rcvd
        if close is None:
            print("closed 1006", flush=True)
        else:
            print(f"closed {close.code} {close.reason}", flush=True)


asyncio.run(main())
