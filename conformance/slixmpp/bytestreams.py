#!/usr/bin/python3
"""XEP-0065 through slixmpp's xep_0065 plugin: A discovers the server's SOCKS5
proxy (disco#items, disco#info, the streamhost query), offers it to B, B
connects to it and says so, A connects and activates the stream, then bytes go
both ways through the proxy: a 64 KiB file from A, a short answer from B."""
import hashlib

from common import main

FILE = bytes((i * 7) & 0xFF for i in range(64 * 1024))


async def bytestreams(args, accounts, client, result):
    (ja, pa), (jb, pb) = accounts[:2]
    a, b = client(ja, pa, ("xep_0030", "xep_0065")), client(jb, pb, ("xep_0030", "xep_0065"))
    b["xep_0065"].auto_accept = True
    b_streams = b.queue("socks5_stream")
    b_data = b.queue("socks5_data")
    a_data = a.queue("socks5_data")
    result["step"] = "login"
    await a.start()
    await b.start()

    result["step"] = "proxy discovery"
    proxies = await a["xep_0065"].discover_proxies(timeout=args.timeout)
    result["proxies"] = {str(jid): [host, int(port)] for jid, (host, port) in proxies.items()}

    result["step"] = "handshake (offer, target connects, initiator connects, activation)"
    sock = await a["xep_0065"].handshake(b.boundjid, timeout=args.timeout)
    if sock is None:
        raise RuntimeError("the handshake gave no socket")
    target = await b.next("socks5_stream")

    result["step"] = "file from A reaches B"
    await sock.write(FILE)
    got = b""
    while len(got) < len(FILE):
        got += await b.next("socks5_data")
    result["b_received"] = len(got)
    result["b_sha1_matches"] = hashlib.sha1(got).digest() == hashlib.sha1(FILE).digest()

    result["step"] = "answer from B reaches A"
    await target.write(b"thanks")
    answer = b""
    while len(answer) < 6:
        answer += await a.next("socks5_data")
    result["a_received"] = answer.decode()
    sock.transport.close()
    target.transport.close()
    result["ok"] = result["b_sha1_matches"] and answer == b"thanks"
    result["step"] = "done"


main(bytestreams, accounts=2)
