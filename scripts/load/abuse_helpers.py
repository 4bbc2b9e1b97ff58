"""Helpers of scripts/abuse-load (standard library only).

  forge-keys ORGANIZATION_ID COUNT FILE   well-formed API keys (valid checksum) that match nothing
  slow-clients PORT COUNT SECONDS         holds COUNT half-sent requests open on 127.0.0.1:PORT
  rss PID SECONDS                         prints the process's largest resident size (MiB)
"""
import random
import socket
import string
import sys
import time
import uuid
import zlib

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def base62(value, width):
    digits = []
    for _ in range(width):
        value, digit = divmod(value, 62)
        digits.append(BASE62[digit])
    return "".join(reversed(digits))


def forge_keys(organization, count, path):
    organization = uuid.UUID(organization).int
    with open(path, "w") as out:
        for _ in range(int(count)):
            secret = "".join(random.choice(BASE62) for _ in range(32))
            body = "tg_live_" + secret + base62(organization, 22)
            out.write(body + base62(zlib.crc32(body.encode()), 6) + "\n")


def slow_clients(port, count, seconds):
    """Each client sends the start of a request and then nothing; one the server closes
    is opened again, so COUNT stay open (or waiting) for the whole time."""
    deadline = time.monotonic() + float(seconds)
    partial = b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    open_sockets = []
    closed = 0

    def open_one():
        sock = socket.socket()
        sock.setblocking(False)
        try:
            sock.connect(("127.0.0.1", int(port)))
        except BlockingIOError:
            pass
        return [sock, False]

    open_sockets = [open_one() for _ in range(int(count))]
    while time.monotonic() < deadline:
        for entry in open_sockets:
            sock, sent = entry
            try:
                if not sent:
                    sock.send(partial)
                    entry[1] = True
                elif sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                    raise ConnectionResetError
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                sock.close()
                closed += 1
                entry[:] = open_one()
        time.sleep(0.2)
    for sock, _ in open_sockets:
        sock.close()
    print(f"slow clients: {count} held for {seconds}s, {closed} closed by the server and reopened")


def rss(pid, seconds):
    deadline = time.monotonic() + float(seconds)
    largest = 0
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        largest = max(largest, int(line.split()[1]))
        except FileNotFoundError:
            break
        time.sleep(0.25)
    print(largest // 1024)


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"forge-keys": forge_keys, "slow-clients": slow_clients, "rss": rss}[command](*args)
