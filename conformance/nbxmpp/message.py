#!/usr/bin/python3
"""A chat message as Gajim sends one (origin-id, receipt request, markable) from
A to B's bare JID. B answers as Gajim does when the message arrives and when it is
read: a delivery receipt (XEP-0184, nbxmpp's build_receipt) and a displayed marker
(XEP-0333). A must get both, each naming the message's id."""
import nbxmpp

from common import chat, go_online, main, unique


def message(args, accounts, account, result):
    (ja, pa), (jb, pb) = accounts[:2]
    a = account(ja, pa)
    b = account(jb, pb)
    go_online(result, a, b)

    text = unique("hello")
    msg = chat(jb, text)
    msg.setOriginID(msg.getID())
    msg.setReceiptRequest()
    msg.setMarkable()
    result["step"] = "message"
    a.send(msg)
    stanza, props = b.next_message(lambda _s, p: p.body == text, "the message at B")
    result["sent_body"] = text
    result["body"] = props.body
    result["from"] = str(stanza.getFrom())
    result["receipt_requested"] = bool(props.receipt and props.receipt.is_request)
    result["markable"] = stanza.getTag("markable", namespace=nbxmpp.namespaces.Namespace.CHATMARKERS) is not None

    result["step"] = "receipt"
    b.send(nbxmpp.modules.receipts.build_receipt(stanza))
    _s, rprops = a.next_message(lambda _s, p: p.is_receipt and p.receipt.is_received and p.receipt.id == msg.getID(),
                                "the receipt at A")
    result["receipt_for"] = rprops.receipt.id

    result["step"] = "displayed marker"
    marker = nbxmpp.Message(to=stanza.getFrom().new_as_bare(), typ="chat")
    marker.setMarker("displayed", stanza.getID())
    marker.setID(unique("marker"))
    b.send(marker)
    _s, mprops = a.next_message(lambda _s, p: p.is_marker and p.marker.is_displayed and p.marker.id == msg.getID(),
                                "the marker at A")
    result["displayed_for"] = mprops.marker.id
    result["sent_id"] = msg.getID()
    result["ok"] = result["receipt_requested"] and result["markable"]
    result["step"] = "done"


main(message, accounts=2)
