#!/usr/bin/python3
"""XEP-0012 through slixmpp's xep_0012 plugin: B, subscribed to A's presence,
asks when A was last online: 0 seconds while A is online, then, after A goes
unavailable with a status, a few seconds and that status. The server's
uptime is asked too. Removes the roster items at the end."""
import asyncio

from common import main, unique


async def last(args, accounts, client, result):
    (ja, pa), (jb, pb) = accounts[:2]
    a, b = client(ja, pa, ("xep_0012",)), client(jb, pb, ("xep_0012",))
    for c in (a, b):
        c.roster.auto_authorize = None
        c.roster.auto_subscribe = False
    a.queue("presence_subscribe")
    b.queue("presence_subscribed")
    result["step"] = "login"
    await a.start()
    await b.start()
    bare_a, bare_b = a.boundjid.bare, b.boundjid.bare

    result["step"] = "B subscribes to A"
    b.send_presence_subscription(pto=bare_a, ptype="subscribe")
    await a.next("presence_subscribe", lambda p: p["from"].bare == bare_b)
    a.send_presence(pto=bare_b, ptype="subscribed")
    await b.next("presence_subscribed", lambda p: p["from"].bare == bare_a)

    result["step"] = "while online"
    online = await b["xep_0012"].get_last_activity(bare_a, timeout=args.timeout)
    result["online_seconds"] = online["last_activity"]["seconds"]

    result["step"] = "after going unavailable"
    status = unique("out for lunch")
    a.send_presence(ptype="unavailable", pstatus=status)
    for _ in range(int(args.timeout * 10)):
        gone = await b["xep_0012"].get_last_activity(bare_a, timeout=args.timeout)
        if gone["last_activity"]["status"] == status:
            break
        await asyncio.sleep(0.1)
    result["offline_seconds"] = gone["last_activity"]["seconds"]
    result["offline_status"] = gone["last_activity"]["status"]

    result["step"] = "server uptime"
    uptime = await b["xep_0012"].get_last_activity(b.boundjid.domain, timeout=args.timeout)
    result["uptime_seconds"] = uptime["last_activity"]["seconds"]

    result["step"] = "cleanup"
    a.send_presence()
    await a.del_roster_item(bare_b)
    await b.del_roster_item(bare_a)
    result["ok"] = (result["online_seconds"] == 0 and result["offline_status"] == status
                    and 0 <= result["offline_seconds"] < 30 and result["uptime_seconds"] >= 0)
    result["step"] = "done"


main(last, accounts=2)
