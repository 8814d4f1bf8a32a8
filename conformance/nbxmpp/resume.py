#!/usr/bin/python3
"""Stream management as Gajim uses it (XEP-0198): nbxmpp enables it with resume
after bind. A's TCP connection is then cut under it (a relay drops both ends, no
stream close), B sends A a message meanwhile, and A reconnects the way Gajim does
on "disconnected" while the client is resumeable: connect() again, which resumes.
The message must arrive exactly once, and A keeps its full JID."""

from common import Relay, chat, go_online, main, unique, wait_for


def resume(args, accounts, account, result):
    (ja, pa), (jb, pb) = accounts[:2]
    relay = Relay(args.host, args.port)
    try:
        run(args, accounts, account, result, relay, ja, pa, jb, pb)
    finally:
        relay.close()


def run(args, _accounts, account, result, relay, ja, pa, jb, pb):
    a = account(ja, pa, port=relay.port)
    b = account(jb, pb)
    go_online(result, a, b)
    result["step"] = "sm enabled"
    wait_for(lambda: a.client.resumeable, "<enabled resume='true'/>", args.timeout)
    bound = str(a.jid)

    result["step"] = "cut"
    relay.cut()
    wait_for(lambda: a.count("disconnected"), "A to notice the cut", args.timeout)

    text = unique("meanwhile")
    result["sent_body"] = text
    result["step"] = "message while cut"
    b.send(chat(bound, text))
    # B's own round trip: the message has been routed (into A's resumable session) before A comes back.
    b.request(b.client.get_module("Ping").ping, b.client.domain)

    result["step"] = "reconnect"
    result["resumeable_after_cut"] = a.client.resumeable
    a.client.connect()
    wait_for(lambda: a.count("resume-successful") or a.count("resume-failed"), "resumed or failed", args.timeout)
    result["resumed"] = a.count("resume-successful") == 1
    result["bound_after"] = str(a.jid)

    result["step"] = "message after resume"
    _s, props = a.next_message(lambda _s, p: p.body == text, "the message at A")
    result["body"] = props.body
    # A round trip on the resumed stream: whatever the server resent comes before its answer.
    a.request(a.client.get_module("Ping").ping, a.client.domain)
    result["copies"] = sum(1 for _s, p in a.messages if p.body == text)
    result["ok"] = result["resumed"] and result["copies"] == 1 and result["bound_after"] == bound
    result["step"] = "done"


main(resume, accounts=2)
