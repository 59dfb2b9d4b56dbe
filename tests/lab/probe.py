"""Runs inside a lab host's namespace: one TCP connect or one UDP datagram.

``probe.py tcp ADDR PORT TIMEOUT`` prints connected / refused / timeout.
``probe.py udp ADDR PORT TOKEN`` sends TOKEN once (the server logs it).
Kept dependency-free so Debian's /usr/bin/python3 runs it in any namespace.
"""

import socket
import sys


def main() -> None:
    kind, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    if kind == "tcp":
        timeout = float(sys.argv[4])
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect((addr, port))
            print("connected")
        except ConnectionRefusedError:
            print("refused")
        except (socket.timeout, TimeoutError):
            print("timeout")
        except OSError as exc:
            print(f"error:{exc.errno}")
        finally:
            s.close()
    else:
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.sendto(sys.argv[4].encode(), (addr, port))
        s.close()
        print("sent")


if __name__ == "__main__":
    main()
