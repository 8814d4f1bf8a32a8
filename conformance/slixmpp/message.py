#!/usr/bin/python3
"""A sends B a chat message to B's bare JID while both are online; B must get
it with the same body and A's full JID as sender."""
from common import main, unique


async def message(args, accounts, client, result):
    (ja, pa), (jb, pb) = accounts[:2]
    a, b = client(ja, pa), client(jb, pb)
    b.queue("message")
    result["step"] = "login"
    await a.start()
    await b.start()
    body = unique("hello")
    result["step"] = "message delivered"
    a.send_message(mto=b.boundjid.bare, mbody=body, mtype="chat")
    got = await b.next("message", lambda m: m["body"] == body)
    result["from"] = str(got["from"])
    result["ok"] = got["from"] == a.boundjid
    result["step"] = "done"


main(message, accounts=2)
