#!/usr/bin/python3
"""XEP-0313 through slixmpp's xep_0313 plugin: A sends B three chat messages,
then both query their own archive filtered on the other; each must find the
three bodies in order."""
from common import main, unique


async def archived_bodies(c, other, args):
    bodies = []
    async for msg in c["xep_0313"].iterate(with_jid=other, rsm={"max": 50}):
        fwd = msg["mam_result"]["forwarded"]["stanza"]
        if fwd["body"]:
            bodies.append(fwd["body"])
    return bodies


async def mam(args, accounts, client, result):
    (ja, pa), (jb, pb) = accounts[:2]
    plugins = ("xep_0030", "xep_0059", "xep_0297", "xep_0313")
    a, b = client(ja, pa, plugins), client(jb, pb, plugins)
    b.queue("message")
    result["step"] = "login"
    await a.start()
    await b.start()
    result["step"] = "disco advertises urn:xmpp:mam:2"
    info = await a["xep_0030"].get_info(jid=a.boundjid.bare, timeout=args.timeout)
    result["feature"] = "urn:xmpp:mam:2" in info["disco_info"]["features"]
    tag = unique("mam")
    sent = [f"{tag}-{i}" for i in range(3)]
    for body in sent:
        result["step"] = f"deliver {body}"
        a.send_message(mto=b.boundjid.bare, mbody=body, mtype="chat")
        await b.next("message", lambda m, body=body: m["body"] == body)
    result["step"] = "query A's archive"
    in_a = [x for x in await archived_bodies(a, b.boundjid.bare, args) if x.startswith(tag)]
    result["step"] = "query B's archive"
    in_b = [x for x in await archived_bodies(b, a.boundjid.bare, args) if x.startswith(tag)]
    result.update(sender_archive=in_a, recipient_archive=in_b)
    result["ok"] = result["feature"] and in_a == sent and in_b == sent
    result["step"] = "done"


main(mam, accounts=2)
