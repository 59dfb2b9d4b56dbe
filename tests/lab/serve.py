"""Runs inside a lab host's namespace: TCP listeners that accept and close,
and UDP listeners that log each datagram, on IPv4 and IPv6.

``serve.py --tcp 25,587 [--udp 25 --udp-log FILE]``; prints "ready" once bound.
"""

import argparse
import selectors
import socket
import sys


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tcp", default="")
    ap.add_argument("--udp", default="")
    ap.add_argument("--udp-log", default=None)
    args = ap.parse_args()
    sel = selectors.DefaultSelector()
    for port in filter(None, args.tcp.split(",")):
        for family, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
            s = socket.socket(family, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind((addr, int(port)))
            s.listen(128)
            sel.register(s, selectors.EVENT_READ, "tcp")
    for port in filter(None, args.udp.split(",")):
        for family, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
            s = socket.socket(family, socket.SOCK_DGRAM)
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind((addr, int(port)))
            sel.register(s, selectors.EVENT_READ, "udp")
    log = open(args.udp_log, "a", buffering=1) if args.udp_log else None
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            sock = key.fileobj
            if key.data == "tcp":
                conn, _ = sock.accept()
                conn.close()
            else:
                data, peer = sock.recvfrom(2048)
                if log:
                    log.write(f"{peer[0]} {data.decode(errors='replace')}\n")


if __name__ == "__main__":
    sys.exit(main())
