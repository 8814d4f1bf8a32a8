#!/usr/bin/python3
"""XEP-0333 through slixmpp's xep_0333 plugin: A sends a markable message, B
answers with a "displayed" marker for its id, and A must receive that marker."""
from common import main, unique


async def markers(args, accounts, client, result):
    (ja, pa), (jb, pb) = accounts[:2]
    a, b = client(ja, pa, ("xep_0333",)), client(jb, pb, ("xep_0333",))
    a.queue("marker_displayed")
    b.queue("message")
    result["step"] = "login"
    await a.start()
    await b.start()
    body = unique("markable")
    msg = a.make_message(mto=b.boundjid.bare, mbody=body, mtype="chat")
    msg["id"] = unique("id")
    msg.enable("markable")
    result["step"] = "markable message delivered"
    msg.send()
    got = await b.next("message", lambda m: m["body"] == body)
    result["markable_kept"] = got.xml.find("{urn:xmpp:chat-markers:0}markable") is not None
    result["step"] = "displayed marker delivered"
    b["xep_0333"].send_marker(a.boundjid.bare, got["id"], "displayed")
    marker = await a.next("marker_displayed", lambda m: m["displayed"]["id"] == msg["id"])
    result["marker_id"] = marker["displayed"]["id"]
    result["ok"] = result["markable_kept"]
    result["step"] = "done"


main(markers, accounts=2)
