#!/usr/bin/python3
"""Login as Gajim does it: STARTTLS, SASL, bind, then the roster. A adds B with a
name (a roster set, as Gajim's "Add contact" does) and the roster get must list
B under that name. Reports the mechanisms sori offered and the one nbxmpp chose."""
import re

from common import main, unique

OFFERED = re.compile(r"<mechanism>([^<]+)</mechanism>")


def login(args, accounts, account, result):
    (ja, pa), (jb, _pb) = accounts[:2]
    a = account(ja, pa)
    offered = []
    a.client.subscribe("stanza-received", lambda _c, _s, data: offered.extend(OFFERED.findall(str(data))))
    result["step"] = "login"
    a.connect()
    result["bound"] = str(a.jid)
    result["offered"] = sorted(set(offered))
    result["mechanism"] = a.chosen_mechanism
    result["sm_offered"] = a.client.sm_supported

    roster = a.client.get_module("Roster")
    name = unique("Bob")
    result["step"] = "roster set"
    a.request(roster.set_item, jb, name)
    result["step"] = "roster get"
    data = a.request(roster.request_roster)
    items = {str(item.jid): item.name for item in data.items or []}
    result["roster_name"] = items.get(jb)
    result["roster_version"] = data.version
    result["ok"] = result["roster_name"] == name and result["bound"].startswith(ja + "/")
    result["step"] = "done"


main(login, accounts=2)
