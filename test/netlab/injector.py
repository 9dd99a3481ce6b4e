#!/usr/bin/env python3
"""The lab's on-path HTTP injector (test tooling, run by lab.sh in the router namespace).

It watches the prober's link for HTTP requests to one address whose Host header names a given site, and
answers each with a forged "200 OK" block page, spoofing the server (its address and port, the sequence
number the client expects next, an acknowledgement of the request). The router's iptables drops those
requests on their way (lab.sh), so the order is certain: the forged page goes out before the server sees the
request. Then, per name:

  pass  the injector sends the request on to the server itself: the server's own answer follows the forged
        page on the same connection (an injector racing a server it lets through)
  drop  the request goes no further: the forged page is the only answer (an injector with a dropper)

Usage: injector.py --interface IF --address ADDR --inject NAME=pass|drop [--inject ...] --pidfile FILE
Only IPv4 and lab addresses: it sends nothing but replies to what it saw on the lab's own link.
"""
import argparse
import os
import random
import re
import signal
import socket
import struct
import sys

ETH_P_IP = 0x0800
PACKET_OUTGOING = 4
TCP_FIN, TCP_PSH, TCP_ACK = 0x01, 0x08, 0x10

FORGED_BODY = (
    b"<html><head><title>Access restricted</title></head>"
    b"<body>Access to this site is restricted on this network.</body></html>\n"
)
# No Date, no Server: what a forging box sends, unlike the server behind it.
FORGED_ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: "
    + str(len(FORGED_BODY)).encode()
    + b"\r\nConnection: close\r\n\r\n"
    + FORGED_BODY
)
HOST_LINE = re.compile(rb"\r\nhost:[ \t]*([^\r\n:]+)", re.IGNORECASE)


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def with_tcp_checksum(packet: bytes, header_length: int) -> bytes:
    """The packet with its TCP checksum computed: over a veth, the sender leaves it to offload, unfinished."""
    tcp = packet[header_length:]
    pseudo = packet[12:20] + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(tcp))
    tcp = tcp[:16] + b"\0\0" + tcp[18:]
    return packet[:header_length] + tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]


def forged_packet(src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int, flags: int) -> bytes:
    """An IPv4 packet from the server's address and port carrying the forged answer."""
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 64240, 0, 0) + FORGED_ANSWER
    pseudo = src + dst + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), random.randrange(65536), 0x4000, 64, socket.IPPROTO_TCP, 0, src, dst
    )
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + tcp


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--interface", required=True)
    parser.add_argument("--address", required=True)
    parser.add_argument("--inject", action="append", default=[], required=True)
    parser.add_argument("--pidfile", required=True)
    args = parser.parse_args()
    modes = {}
    for item in args.inject:
        name, _, mode = item.partition("=")
        if mode not in ("pass", "drop"):
            parser.error(f"--inject {item}: the mode must be pass or drop")
        modes[name.lower().encode()] = mode
    target = socket.inet_aton(args.address)

    listener = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
    listener.bind((args.interface, 0))
    sender = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(args.pidfile, "w") as pidfile:
        pidfile.write(f"{os.getpid()}\n")

    while True:
        frame, meta = listener.recvfrom(65535)
        if meta[2] == PACKET_OUTGOING or len(frame) < 14 + 20:
            continue
        packet = frame[14:]
        header_length = (packet[0] & 0x0F) * 4
        if packet[0] >> 4 != 4 or packet[9] != socket.IPPROTO_TCP or packet[16:20] != target:
            continue
        total_length = struct.unpack("!H", packet[2:4])[0]
        packet = packet[:total_length]
        tcp = packet[header_length:]
        sport, dport, seq, ack, offset = struct.unpack("!HHIIB", tcp[:13])
        payload = tcp[(offset >> 4) * 4 :]
        if dport != 80 or not payload.startswith((b"GET ", b"HEAD ")):
            continue
        host = HOST_LINE.search(payload)
        mode = modes.get(host.group(1).strip().lower()) if host else None
        if mode is None:
            continue
        flags = TCP_PSH | TCP_ACK | (TCP_FIN if mode == "drop" else 0)
        reply = forged_packet(
            packet[16:20], packet[12:16], dport, sport, ack, (seq + len(payload)) & 0xFFFFFFFF, flags
        )
        sender.sendto(reply, (socket.inet_ntoa(packet[12:16]), 0))
        if mode == "pass":
            sender.sendto(with_tcp_checksum(packet, header_length), (args.address, 0))
        print(f"injected a forged page for {host.group(1).decode()} ({mode})", flush=True)


if __name__ == "__main__":
    sys.exit(main())
