#!/usr/bin/python3
"""Message carbons (XEP-0280) as Gajim uses them: A is online twice (A1, A2), each
enables carbons with the iq Gajim sends after login. A1 -> B must reach A2 as a
"sent" carbon, and B -> A1 (full JID) as a "received" carbon, both unwrapped by
nbxmpp, which accepts a carbon only from the account's own bare JID."""
import nbxmpp
from nbxmpp.namespaces import Namespace

from common import chat, go_online, main, unique


def carbons(args, accounts, account, result):
    (ja, pa), (jb, pb) = accounts[:2]
    a1 = account(ja, pa, resource="one")
    a2 = account(ja, pa, resource="two")
    b = account(jb, pb)
    go_online(result, a1, a2, b)
    result["step"] = "enable carbons"
    for c in (a1, a2):
        enable = nbxmpp.Iq("set")
        enable.addChild("enable", namespace=Namespace.CARBONS)
        answer = c.iq(enable)
        if answer.getType() != "result":
            result["error"] = f"carbons enable answered {answer.getType()}: {answer.getError()}"
            return

    out = unique("out")
    result["sent_body"] = out
    result["step"] = "sent carbon"
    a1.send(chat(jb, out))
    b.next_message(lambda _s, p: p.body == out, "the message at B")
    stanza, props = a2.next_message(lambda _s, p: p.body == out, "the sent carbon at A2")
    result["a2_body"] = props.body
    result["a2_carbon"] = props.carbon.type if props.carbon else None
    result["a2_to"] = str(stanza.getTo())

    back = unique("in")
    result["received_body"] = back
    result["step"] = "received carbon"
    b.send(chat(str(a1.jid), back))
    a1.next_message(lambda _s, p: p.body == back, "the message at A1")
    _s, props = a2.next_message(lambda _s, p: p.body == back, "the received carbon at A2")
    result["a2_received_carbon"] = props.carbon.type if props.carbon else None
    result["ok"] = result["a2_carbon"] == "sent" and result["a2_received_carbon"] == "received"
    result["step"] = "done"


main(carbons, accounts=2)
