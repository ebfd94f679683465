#!/usr/bin/env python3
"""Small TCP helpers for the load balancer's namespace tests (run with `ip netns exec NS python3 echo.py ...`).

serve NAME ADDR PORT   accept connections; answer every line with "NAME line" (a backend that says who it is)
many ADDR PORT N       N connections one after another, one line each; print each answer's NAME (or FAIL)
userve NAME ADDR PORT  answer every datagram with "NAME datagram"
umany ADDR PORT N      N datagrams, each from a socket of its own (a new flow); print each answer's NAME (or FAIL)
hold ADDR PORT         one connection: print the first answer's NAME, then for each line on stdin send it and print
                       the answer's NAME (or FAIL when the connection is gone): a connection that stays open
"""
import socket
import sys
import threading


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def serve(name, addr, port):
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(128)
    print("listening", flush=True)

    def answer(c):
        with c:
            f = c.makefile("rb")
            for line in f:
                c.sendall(name.encode() + b" " + line)

    while True:
        c, _ = s.accept()
        threading.Thread(target=answer, args=(c,), daemon=True).start()


def userve(name, addr, port):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.bind((addr, port))
    print("listening", flush=True)
    while True:
        data, peer = s.recvfrom(2048)
        s.sendto(name.encode() + b" " + data, peer)


def umany(addr, port, n):
    for _ in range(n):
        with socket.socket(family(addr), socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            try:
                s.sendto(b"x", (addr, port))
                data, _ = s.recvfrom(2048)
                print(data.decode().split(" ", 1)[0], flush=True)
            except OSError:
                print("FAIL", flush=True)


def ask(f, c, text):
    c.sendall(text.encode() + b"\n")
    line = f.readline()
    if not line:
        raise OSError("closed")
    return line.decode().split(" ", 1)[0]


def many(addr, port, n):
    for _ in range(n):
        try:
            with socket.create_connection((addr, port), timeout=3) as c:
                print(ask(c.makefile("rb"), c, "x"), flush=True)
        except OSError:
            print("FAIL", flush=True)


def hold(addr, port):
    c = socket.create_connection((addr, port), timeout=5)
    f = c.makefile("rb")
    print(ask(f, c, "hello"), flush=True)
    for line in sys.stdin:
        try:
            print(ask(f, c, line.strip() or "x"), flush=True)
        except OSError:
            print("FAIL", flush=True)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "serve":
        serve(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif mode == "userve":
        userve(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif mode == "umany":
        umany(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif mode == "many":
        many(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif mode == "hold":
        hold(sys.argv[2], int(sys.argv[3]))
