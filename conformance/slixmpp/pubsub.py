#!/usr/bin/python3
"""PEP explicit subscriptions through slixmpp's xep_0060 plugin: A publishes
an open node; B, who is not A's contact, subscribes to it, gets the last item
at once and the next publish as an event, finds the subscription in its list,
unsubscribes and hears nothing of a third publish."""
import asyncio
import xml.etree.ElementTree as ET

from common import main, unique

NS_NOTES = "urn:example:notes"


def note(text):
    return ET.fromstring(f"<note xmlns='{NS_NOTES}'>{text}</note>")


async def pubsub(args, accounts, client, result):
    (ja, pa), (jb, pb) = accounts[:2]
    a, b = client(ja, pa, ("xep_0004", "xep_0060")), client(jb, pb, ("xep_0004", "xep_0060"))
    b.queue("pubsub_publish")
    result["step"] = "login"
    await a.start()
    await b.start()
    owner = a.boundjid.bare
    node = unique("urn:example:notes")

    result["step"] = "publish an open node"
    options = a["xep_0004"].make_form(ftype="submit")
    options.add_field(var="FORM_TYPE", ftype="hidden", value="http://jabber.org/protocol/pubsub#publish-options")
    options.add_field(var="pubsub#access_model", value="open")
    options.add_field(var="pubsub#max_items", value="10")
    await a["xep_0060"].publish(owner, node, id="n1", payload=note("first"), options=options, timeout=args.timeout)

    result["step"] = "subscribe"
    reply = await b["xep_0060"].subscribe(owner, node, timeout=args.timeout)
    result["subscription"] = reply["pubsub"]["subscription"]["subscription"]
    ids = lambda m: [i["id"] for i in m["pubsub_event"]["items"]]  # noqa: E731
    is_node = lambda m: m["pubsub_event"]["items"]["node"] == node  # noqa: E731
    result["step"] = "last item on subscribing"
    result["last_item"] = ids(await b.next("pubsub_publish", is_node))
    result["step"] = "event for the next publish"
    await a["xep_0060"].publish(owner, node, id="n2", payload=note("second"), timeout=args.timeout)
    result["next_item"] = ids(await b.next("pubsub_publish", is_node))

    result["step"] = "subscription list"
    subs = await b["xep_0060"].get_subscriptions(owner, timeout=args.timeout)
    result["listed"] = [s["node"] for s in subs["pubsub"]["subscriptions"]]

    result["step"] = "unsubscribe"
    await b["xep_0060"].unsubscribe(owner, node, timeout=args.timeout)
    await a["xep_0060"].publish(owner, node, id="n3", payload=note("third"), timeout=args.timeout)
    try:
        late = await asyncio.wait_for(b.next("pubsub_publish", is_node), 1.5)
        result["after_unsubscribe"] = ids(late)
    except asyncio.TimeoutError:
        result["after_unsubscribe"] = []
    result["step"] = "cleanup"
    await a["xep_0060"].delete_node(owner, node, timeout=args.timeout)
    result["ok"] = (result["subscription"] == "subscribed" and result["last_item"] == ["n1"]
                    and result["next_item"] == ["n2"] and result["listed"] == [node] and result["after_unsubscribe"] == [])
    result["step"] = "done"


main(pubsub, accounts=2)
