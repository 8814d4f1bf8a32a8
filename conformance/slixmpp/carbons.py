#!/usr/bin/python3
"""XEP-0280 through slixmpp's xep_0280 plugin: A is online twice (A1, A2), both
enable carbons. A1 -> B must reach A2 as a "sent" carbon; B -> A1 (full JID)
must reach A2 as a "received" carbon."""
from common import main, unique


async def carbons(args, accounts, client, result):
    (ja, pa), (jb, pb) = accounts[:2]
    plugins = ("xep_0030", "xep_0297", "xep_0280")
    a1 = client(f"{ja}/one", pa, plugins)
    a2 = client(f"{ja}/two", pa, plugins)
    b = client(jb, pb)
    for q in ("carbon_sent", "carbon_received"):
        a2.queue(q)
    b.queue("message")
    a1.queue("message")
    result["step"] = "login"
    for c in (a1, a2, b):
        await c.start()
    result["step"] = "enable carbons"
    await a1["xep_0280"].enable(timeout=args.timeout)
    await a2["xep_0280"].enable(timeout=args.timeout)

    out = unique("out")
    result["step"] = "sent carbon"
    a1.send_message(mto=b.boundjid.bare, mbody=out, mtype="chat")
    await b.next("message", lambda m: m["body"] == out)
    sent = await a2.next("carbon_sent", lambda m: m["carbon_sent"]["body"] == out)
    result["sent_carbon_from"] = str(sent["from"])

    back = unique("in")
    result["step"] = "received carbon"
    b.send_message(mto=a1.boundjid, mbody=back, mtype="chat")
    await a1.next("message", lambda m: m["body"] == back)
    received = await a2.next("carbon_received", lambda m: m["carbon_received"]["body"] == back)
    result["received_carbon_from"] = str(received["from"])
    # Carbons must come from the user's own bare JID (XEP-0280 section 11).
    result["ok"] = result["sent_carbon_from"] == a2.boundjid.bare and result["received_carbon_from"] == a2.boundjid.bare
    result["step"] = "done"


main(carbons, accounts=2)
