#!/usr/bin/python3
"""Message archive (XEP-0313) through nbxmpp's MAM module, as Gajim fetches history
when a chat is opened: A sends B a chat message, then each of them queries their
own archive from a minute back and must find it once, marked as sent by A."""
from datetime import datetime, timedelta, timezone


from common import chat, go_online, main, unique


def archived(account, since, text):
    """Fetches account's archive since `since`, page by page as Gajim's archive sync does;
    returns the copies of `text` found and the number of pages.

    No `with_` filter: nbxmpp 4.2.2's make_query(with_=...) raises TypeError before
    sending (its jid-single form field iterates options=None), whatever the server."""
    mam_module = account.client.get_module("MAM")
    own = account.client.get_bound_jid().bare
    query_ids, after, pages = set(), None, 0
    while True:
        query_id = unique("q")
        query_ids.add(query_id)
        fin = account.request(mam_module.make_query, own, queryid=query_id, start=since, after=after, max_=20)
        pages += 1
        if fin.complete or fin.rsm.last is None or pages > 50:
            break
        after = fin.rsm.last
    found = [{"from": str(s.getFrom().bare), "body": p.body, "id": p.mam.id}
             for s, p in account.messages
             if p.is_mam_message and p.mam.query_id in query_ids and p.body == text]
    return found, pages


def mam(args, accounts, account, result):
    (ja, pa), (jb, pb) = accounts[:2]
    a = account(ja, pa)
    b = account(jb, pb)
    go_online(result, a, b)

    # A minute back: the archive's clock and ours are the same machine's, the margin is for whole seconds.
    since = datetime.now(timezone.utc) - timedelta(minutes=1)
    text = unique("archived")
    result["sent_body"] = text
    result["step"] = "message"
    a.send(chat(jb, text))
    b.next_message(lambda _s, p: p.body == text and not p.is_mam_message, "the message at B")

    result["step"] = "A's archive"
    result["sender_found"], result["sender_pages"] = archived(a, since, text)
    result["step"] = "B's archive"
    result["recipient_found"], result["recipient_pages"] = archived(b, since, text)
    result["ok"] = len(result["sender_found"]) == 1 and len(result["recipient_found"]) == 1
    result["step"] = "done"


main(mam, accounts=2)
