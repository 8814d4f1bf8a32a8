#!/usr/bin/python3
"""An XEP-0114 component (slixmpp's ComponentXMPP) connects with its shared
secret and echoes what users send it; A sends to a JID at the component and
must get the echo back from that JID, through the component connection."""
import asyncio

import slixmpp

from common import main, unique


async def component(args, accounts, client, result):
    domain, secret, port = args.component
    (ja, pa), = accounts[:1]
    echo = slixmpp.ComponentXMPP(domain, secret, args.host, int(port))
    started = asyncio.get_running_loop().create_future()
    echo.add_event_handler("session_start", lambda _: started.done() or started.set_result(True))
    echo.add_event_handler("stream_error", lambda e: started.done() or started.set_exception(ConnectionError(f"stream error: {e['condition']}")))

    def on_message(msg):
        if msg["type"] in ("chat", "normal") and msg["body"]:
            msg.reply(f"echo: {msg['body']}").send()

    echo.add_event_handler("message", on_message)
    try:
        result["step"] = "component handshake"
        echo.connect()
        await asyncio.wait_for(started, args.timeout)
        a = client(ja, pa)
        a.queue("message")
        result["step"] = "login"
        await a.start()
        body = unique("ping")
        result["step"] = "echo through the component"
        a.send_message(mto=f"bot@{domain}", mbody=body, mtype="chat")
        got = await a.next("message", lambda m: m["body"] == f"echo: {body}")
        result["from"] = str(got["from"])
        result["ok"] = str(got["from"]) == f"bot@{domain}"
        result["step"] = "done"
    finally:
        echo.disconnect(wait=0)


main(component, accounts=1)
