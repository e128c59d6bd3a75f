"""A wss:// server nobody here wrote (Python `websockets` from PyPI) for
tests/tls.rs: it refuses a handshake without the headers and the bearer
token it is told to expect (HTTP 403 naming what is missing), then echoes
every message. Prints `listening on PORT` once it listens."""

import argparse
import asyncio
import ssl
from http import HTTPStatus

from websockets.asyncio.server import serve


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cert", required=True, help="PEM certificate chain")
    parser.add_argument("--key", required=True, help="PEM private key")
    parser.add_argument("--header", action="append", default=[], help="NAME=VALUE that must arrive")
    parser.add_argument("--token", help="the bearer token that must arrive")
    args = parser.parse_args()

    required = [tuple(h.split("=", 1)) for h in args.header]
    if args.token:
        required.append(("Authorization", f"Bearer {args.token}"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)

    def check(connection, request):
        wrong = [name for name, value in required if request.headers.get(name) != value]
        if wrong:
            return connection.respond(HTTPStatus.FORBIDDEN, "missing or wrong: " + ", ".join(wrong) + "\n")
        return None

    async def echo(websocket):
        async for message in websocket:
            await websocket.send(message)

    async def run():
        async with serve(echo, "127.0.0.1", 0, ssl=context, process_request=check) as server:
            port = server.sockets[0].getsockname()[1]
            print(f"listening on {port}", flush=True)
            await asyncio.get_running_loop().create_future()

    asyncio.run(run())


if __name__ == "__main__":
    main()
