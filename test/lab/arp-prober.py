#!/usr/bin/python3
"""ARP leak prober for the fleet lab.

Sends an ARP who-has for TARGET from this namespace's IFACE every few
milliseconds and counts every ARP reply for TARGET by sender MAC, so that a
leak window of a few tens of milliseconds (a VIP up before the ARP sysctls) is
caught; arping, at one request a second, misses it.

Runs until SIGTERM/SIGINT, until stdin reaches end of file, or until
--max-seconds (never more than 60) have passed. Prints "ready" once the socket
is bound and the first request is out, then one JSON line:
  {"requests": N, "replies": {MAC: count}, "windows": {MAC: {"firstMs", "lastMs"}},
   "elapsedMs", "maxGapMs", "maxGapAtMs", "sendErrors", "dropped",
   "stoppedBy", "realtime"}
Times are ms since the first request. maxGapMs is the longest pause between
two requests (a shorter leak could have been missed); it began at maxGapAtMs.
dropped counts frames lost to a full receive buffer. realtime says whether
SCHED_FIFO, which keeps the pauses short on a busy machine, was granted.

Only python3-minimal modules are used (no json, no argparse), so the bare
/usr/bin/python3 of a Debian system is enough. Needs CAP_NET_RAW.
"""
import os
import select
import signal
import socket
import struct
import sys
import time

ETH_P_ARP = 0x0806
ETH_P_IP = 0x0800
ARPHRD_ETHER = 1
ARPOP_REQUEST = 1
ARPOP_REPLY = 2
PACKET_OUTGOING = 4
# Not exported by Python's socket module (linux/if_packet.h, asm-generic/socket.h).
SOL_PACKET = 263
PACKET_STATISTICS = 6
PACKET_IGNORE_OUTGOING = 23
SO_RCVBUFFORCE = 33
RECEIVE_BUFFER_BYTES = 4 << 20
BROADCAST = b'\xff' * 6
MAX_SECONDS_CAP = 60.0
USAGE = 'usage: arp-prober.py --iface IFACE --src-ip IPV4 --target IPV4 [--interval-ms 2] [--max-seconds 60]'


def fail(message, code=2):
    sys.stderr.write('arp-prober: %s\n' % message)
    sys.exit(code)


def parse_args(argv):
    opts = {'--interval-ms': '2', '--max-seconds': str(int(MAX_SECONDS_CAP))}
    known = ('--iface', '--src-ip', '--target', '--interval-ms', '--max-seconds')
    i = 0
    while i < len(argv):
        key = argv[i]
        if key not in known or i + 1 >= len(argv):
            fail(USAGE)
        opts[key] = argv[i + 1]
        i += 2
    for key in ('--iface', '--src-ip', '--target'):
        if key not in opts:
            fail(USAGE)
    try:
        src_ip = socket.inet_aton(opts['--src-ip'])
        target = socket.inet_aton(opts['--target'])
        interval = float(opts['--interval-ms']) / 1000.0
        max_seconds = float(opts['--max-seconds'])
    except (OSError, ValueError):
        fail(USAGE)
    if not 0.0005 <= interval <= 1.0 or max_seconds <= 0:
        fail('--interval-ms must be 0.5..1000 and --max-seconds positive')
    return opts['--iface'], src_ip, target, interval, min(max_seconds, MAX_SECONDS_CAP)


def mac_text(raw):
    return ':'.join('%02x' % b for b in raw)


def who_has(src_mac, src_ip, target):
    arp = struct.pack('!HHBBH6s4s6s4s', ARPHRD_ETHER, ETH_P_IP, 6, 4, ARPOP_REQUEST, src_mac, src_ip, b'\0' * 6, target)
    frame = BROADCAST + src_mac + struct.pack('!H', ETH_P_ARP) + arp
    return frame + b'\0' * (60 - len(frame))


def reply_sender(frame, target):
    """The ARP sender MAC if frame is an ARP reply for target, else None."""
    if len(frame) < 42 or frame[12:14] != b'\x08\x06':
        return None
    htype, ptype, hlen, plen, op = struct.unpack('!HHBBH', frame[14:22])
    if htype != ARPHRD_ETHER or ptype != ETH_P_IP or hlen != 6 or plen != 4 or op != ARPOP_REPLY:
        return None
    if frame[28:32] != target:
        return None
    return mac_text(frame[22:28])


def main():
    iface, src_ip, target, interval, max_seconds = parse_args(sys.argv[1:])
    stop = {'by': None}

    def on_signal(signum, _frame):
        stop['by'] = stop['by'] or 'signal'

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
        sock.bind((iface, ETH_P_ARP))
    except OSError as e:
        fail('cannot open an ARP socket on %s: %s' % (iface, e))
    src_mac = sock.getsockname()[4]
    if len(src_mac) != 6:
        fail('%s has no Ethernet address' % iface)
    sock.setblocking(False)
    # Room for a few hundred ms of replies if the prober is starved, and no
    # copies of its own requests (pkttype is checked as well, for older kernels).
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER_BYTES)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
    try:
        sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
    except OSError:
        pass
    request = who_has(src_mac, src_ip, target)
    # The lowest real-time priority keeps the 2 ms cadence while vipush, ssh and
    # sshd compete for the CPU; the loop sleeps in select(), so it takes little.
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
        realtime = True
    except (AttributeError, OSError):
        realtime = False

    replies = {}
    windows = {}
    requests = 0
    send_errors = 0
    max_gap = 0.0
    max_gap_at = 0.0
    stdin_fd = sys.stdin.fileno() if sys.stdin is not None else None
    watched = [sock] + ([stdin_fd] if stdin_fd is not None else [])

    start = time.monotonic()
    deadline = start + max_seconds
    last_send = None
    next_send = start
    announced = False
    while stop['by'] is None:
        now = time.monotonic()
        if now >= deadline:
            stop['by'] = 'max-duration'
            break
        if now >= next_send:
            try:
                sock.send(request)
                requests += 1
                if last_send is not None and now - last_send > max_gap:
                    max_gap = now - last_send
                    max_gap_at = last_send - start
                last_send = now
            except OSError:
                send_errors += 1
            # When the loop falls behind, carry on from now instead of sending a burst.
            next_send = max(next_send + interval, now)
            if not announced:
                sys.stdout.write('ready\n')
                sys.stdout.flush()
                announced = True
        readable, _, _ = select.select(watched, [], [], max(0.0, min(next_send, deadline) - time.monotonic()))
        if stdin_fd is not None and stdin_fd in readable:
            if os.read(stdin_fd, 4096) == b'':
                stop['by'] = stop['by'] or 'stdin'
                watched.remove(stdin_fd)
        if sock in readable:
            while True:
                try:
                    frame, addr = sock.recvfrom(2048)
                except BlockingIOError:
                    break
                if addr[2] == PACKET_OUTGOING:
                    continue
                mac = reply_sender(frame, target)
                if mac is None:
                    continue
                at = round((time.monotonic() - start) * 1000.0, 1)
                replies[mac] = replies.get(mac, 0) + 1
                window = windows.setdefault(mac, [at, at])
                window[1] = at

    elapsed = time.monotonic() - start
    # Frames the kernel dropped because the receive buffer was full: replies the counts miss.
    _, dropped = struct.unpack('II', sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
    reply_items = ', '.join('"%s": %d' % (mac, n) for mac, n in sorted(replies.items()))
    window_items = ', '.join(
        '"%s": {"firstMs": %.1f, "lastMs": %.1f}' % (mac, w[0], w[1]) for mac, w in sorted(windows.items())
    )
    sys.stdout.write(
        '{"requests": %d, "replies": {%s}, "windows": {%s}, "elapsedMs": %.1f, "maxGapMs": %.1f, "maxGapAtMs": %.1f, "sendErrors": %d, "dropped": %d, "stoppedBy": "%s", "realtime": %s}\n'
        % (requests, reply_items, window_items, elapsed * 1000.0, max_gap * 1000.0, max_gap_at * 1000.0, send_errors, dropped, stop['by'], 'true' if realtime else 'false')
    )
    sys.stdout.flush()


if __name__ == '__main__':
    main()
