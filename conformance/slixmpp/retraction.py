#!/usr/bin/python3
"""XEP-0424 through slixmpp's xep_0424 plugin (the 0.3 form, <apply-to/>):
A sends B a message with an origin id, then retracts it. B's client must get
the retraction; in both archives the message must then be a tombstone (no
body, <retracted/> holding the origin id), the message after it untouched,
and the retraction archived."""
from common import main, unique

NS_RETRACT = "urn:xmpp:message-retract:0"


async def archived(c, other, args):
    """(origin id, body, retracted element or None, retraction id or None) per archived message."""
    out = []
    async for msg in c["xep_0313"].iterate(with_jid=other, rsm={"max": 50}):
        fwd = msg["mam_result"]["forwarded"]["stanza"]
        retracted = fwd.xml.find("{%s}retracted" % NS_RETRACT)
        origin = fwd["origin_id"]["id"]
        if retracted is not None:
            oid = retracted.find("{urn:xmpp:sid:0}origin-id")
            origin = oid.get("id") if oid is not None else origin
        out.append({
            "origin": origin,
            "body": fwd["body"],
            "retracted": retracted is not None,
            "retracts": fwd["apply_to"]["id"] or None,
        })
    return out


async def retraction(args, accounts, client, result):
    (ja, pa), (jb, pb) = accounts[:2]
    plugins = ("xep_0030", "xep_0059", "xep_0297", "xep_0313", "xep_0359", "xep_0422", "xep_0424", "xep_0428", "xep_0334")
    a, b = client(ja, pa, plugins), client(jb, pb, plugins)
    b.queue("message")
    b.queue("message_retract")
    result["step"] = "login"
    await a.start()
    await b.start()
    tag = unique("retract")
    wrong, kept = f"{tag}-wrong", f"{tag}-kept"
    for body in (wrong, kept):
        result["step"] = f"deliver {body}"
        msg = a.make_message(mto=b.boundjid.bare, mbody=body, mtype="chat")
        msg["id"] = body
        msg["origin_id"]["id"] = body
        msg.send()
        await b.next("message", lambda m, body=body: m["body"] == body)
    result["step"] = "retract"
    a["xep_0424"].send_retraction(b.boundjid.bare, wrong)
    got = await b.next("message_retract")
    result["retraction_received_for"] = got["apply_to"]["id"]
    for name, c, other in (("sender", a, b), ("recipient", b, a)):
        result["step"] = f"query the {name}'s archive"
        rows = [r for r in await archived(c, other.boundjid.bare, args) if (r["origin"] or "").startswith(tag) or (r["retracts"] or "").startswith(tag)]
        result[f"{name}_archive"] = rows
    ok = result["retraction_received_for"] == wrong
    for name in ("sender", "recipient"):
        rows = result[f"{name}_archive"]
        ok = ok and rows[0] == {"origin": wrong, "body": "", "retracted": True, "retracts": None}
        ok = ok and rows[1] == {"origin": kept, "body": kept, "retracted": False, "retracts": None}
        ok = ok and len(rows) == 3 and rows[2]["retracts"] == wrong and not rows[2]["retracted"]
    result["ok"] = ok
    result["step"] = "done"


main(retraction, accounts=2)
