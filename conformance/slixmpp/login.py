#!/usr/bin/python3
"""Logs in with one account. ok=true and the bound JID on success; on a SASL
failure ok=false with the failure's condition (e.g. not-authorized)."""
from common import main


async def login(args, accounts, client, result):
    jid, password = accounts[0]
    c = client(jid, password)
    result["step"] = "login"
    await c.start()
    result.update(ok=True, bound=str(c.boundjid))


main(login, accounts=1)
