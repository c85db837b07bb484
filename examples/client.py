#!/usr/bin/env python3
"""A ringcast client (Debian's python3-websockets): each line read from stdin is sent to
every other client; every message the others send is printed, one per line.

    python3 examples/client.py [ws://localhost:9002/]

stdin is a terminal or a pipe. End of input closes the connection cleanly (1000).
"""
import asyncio
import sys

import websockets


async def send_lines(ws):
    # Reading stdin through the event loop (not a thread) lets the client exit as soon as
    # the server goes away, without waiting for one more line.
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        await ws.send(line.decode("utf-8", "replace").rstrip("\r\n"))
    await ws.close()


async def print_messages(ws):
    async for message in ws:
        if isinstance(message, bytes):
            message = f"[binary, {len(message)} bytes]"
        print(message, flush=True)


async def main(url):
    async with websockets.connect(url, max_size=None) as ws:
        print(f"connected to {url}", file=sys.stderr, flush=True)
        sender = asyncio.create_task(send_lines(ws))
        try:
            await print_messages(ws)
        finally:
            sender.cancel()
    print(f"closed: {ws.close_code} {ws.close_reason}".rstrip(), file=sys.stderr, flush=True)
    return 0 if ws.close_code in (1000, 1001) else 1


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else "ws://localhost:9002/"
    try:
        sys.exit(asyncio.run(main(target)))
    except (OSError, websockets.InvalidHandshake, websockets.InvalidURI) as e:
        print(f"{target}: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
