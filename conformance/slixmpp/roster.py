#!/usr/bin/python3
"""RFC 6121 subscriptions both ways between A and B with explicit approval,
then presence: each must end with the other at subscription "both" in its
roster and must have seen the other's available presence. Removes both roster
items at the end so the scenario can run again."""
import asyncio

from common import main


async def roster(args, accounts, client, result):
    (ja, pa), (jb, pb) = accounts[:2]
    a, b = client(ja, pa), client(jb, pb)
    for c in (a, b):
        c.roster.auto_authorize = None  # None: leave requests to us (False would refuse them)
        c.roster.auto_subscribe = False
        for event in ("presence_subscribe", "presence_subscribed", "presence_available"):
            c.queue(event)
    result["step"] = "login"
    await a.start()
    await b.start()
    bare_a, bare_b = a.boundjid.bare, b.boundjid.bare
    result["step"] = "reset rosters"
    for x, other in ((a, bare_b), (b, bare_a)):
        if other in x.client_roster:
            await x.del_roster_item(other)
    from_ = lambda bare: (lambda p: p["from"].bare == bare)  # noqa: E731

    async def subscribe(x, y, name):
        """x subscribes to y's presence and y approves."""
        result["step"] = f"{name}: subscribe request delivered"
        x.send_presence_subscription(pto=y.boundjid.bare, ptype="subscribe")
        await y.next("presence_subscribe", from_(x.boundjid.bare))
        result["step"] = f"{name}: approval delivered"
        y.send_presence(pto=x.boundjid.bare, ptype="subscribed")
        await x.next("presence_subscribed", from_(y.boundjid.bare))
        result["step"] = f"{name}: presence after approval"
        await x.next("presence_available", from_(y.boundjid.bare))

    await subscribe(a, b, "A->B")
    result["a_sees_b"] = True
    await subscribe(b, a, "B->A")
    result["b_sees_a"] = True

    async def both(x, other):
        for _ in range(int(args.timeout * 10)):
            if x.client_roster[other]["subscription"] == "both":
                return "both"
            await asyncio.sleep(0.1)
        return x.client_roster[other]["subscription"]

    result["step"] = "roster pushes"
    result["a_subscription"] = await both(a, bare_b)
    result["b_subscription"] = await both(b, bare_a)
    result["ok"] = result["a_subscription"] == "both" and result["b_subscription"] == "both"
    result["step"] = "cleanup"
    await a.del_roster_item(bare_b)
    await b.del_roster_item(bare_a)
    result["step"] = "done"


main(roster, accounts=2)
