"""Shared helpers for the slixmpp conformance scripts.

Every script takes the server address and accounts on its command line, runs
one scenario, prints ONE JSON object on stdout and exits 0 when the scenario's
"ok" is true, 1 when it is false, 2 when the harness itself broke:

    /usr/bin/python3 conformance/slixmpp/SCRIPT.py --host 127.0.0.1 --port 5222 \
        --account alice@localhost secret --account bob@localhost secret

Run them with Debian's /usr/bin/python3 (python3-slixmpp), not a pyenv python.
The certificate is not verified unless --verify is given (test servers use
self-signed certificates).
"""
import argparse
import asyncio
import json
import logging
import ssl
import sys
import uuid

try:
    import slixmpp
except ImportError:  # pragma: no cover - message for the person running it
    print(json.dumps({"ok": False, "error": "slixmpp is missing: apt-get install -y python3-slixmpp "
                      "and run with /usr/bin/python3"}))
    sys.exit(2)


class AuthFailed(Exception):
    def __init__(self, condition):
        super().__init__(f"SASL failure: {condition}")
        self.condition = condition


class Client(slixmpp.ClientXMPP):
    """A ClientXMPP with awaitable start-up and a queue per event of interest."""

    def __init__(self, jid, password, args, plugins=()):
        super().__init__(jid, password)
        self.args = args
        if not args.verify:
            self.ssl_context.check_hostname = False
            self.ssl_context.verify_mode = ssl.CERT_NONE
        for plugin in plugins:
            self.register_plugin(plugin)
        self.queues = {}
        self.auth_condition = None
        self.add_event_handler("failed_auth", self._failed_auth)

    def _failed_auth(self, stanza):
        # slixmpp walks down the offered mechanisms; the last failure is the verdict
        # (earlier ones may only say a mechanism's channel binding was unusable).
        if stanza is not None:
            self.auth_condition = stanza["condition"] or "unknown"

    def queue(self, event):
        """An asyncio.Queue filled by every later `event` (create it before the event can fire)."""
        if event not in self.queues:
            q = asyncio.Queue()
            self.queues[event] = q
            self.add_event_handler(event, q.put_nowait)
        return self.queues[event]

    async def next(self, event, predicate=lambda _: True):
        """The next `event` payload matching `predicate`, within the timeout."""
        q = self.queue(event)

        async def wait():
            while True:
                item = await q.get()
                if predicate(item):
                    return item

        return await asyncio.wait_for(wait(), self.args.timeout)

    async def start(self, presence=True, roster=True):
        """Connects (STARTTLS required), authenticates, binds; raises AuthFailed on a SASL failure."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def settle(value=None, error=None):
            if not done.done():
                done.set_exception(error) if error else done.set_result(value)

        self.add_event_handler("session_start", lambda _: settle())
        self.add_event_handler("failed_all_auth", lambda _: settle(error=AuthFailed(self.auth_condition or "unknown")))
        self.add_event_handler("connection_failed", lambda e: settle(error=ConnectionError(str(e))))
        self.add_event_handler("stream_error", lambda e: settle(error=ConnectionError(f"stream error: {e['condition']}")))
        self.connect((self.args.host, self.args.port), force_starttls=True)
        try:
            await asyncio.wait_for(done, self.args.timeout)
        except BaseException:
            self.stop()
            raise
        if roster:
            await self.get_roster(timeout=self.args.timeout)
        if presence:
            self.send_presence()

    def stop(self):
        self.auto_reconnect = False
        self.disconnect(wait=0)


def unique(prefix="m"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def main(scenario, accounts=1):
    """Parses the arguments, runs `await scenario(args, accounts, client, result)` and prints `result`.

    The scenario fills the `result` dict; it sets result["step"] before each wait so
    that a time-out or error says where it happened, and result["ok"] at the end.
    `client(jid, password, plugins)` makes a Client that is stopped afterwards."""
    parser = argparse.ArgumentParser(description=scenario.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5222)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per awaited step")
    parser.add_argument("--verify", action="store_true", help="verify the server certificate")
    parser.add_argument("--debug", action="store_true", help="slixmpp debug log on stderr")
    parser.add_argument("--account", nargs=2, action="append", metavar=("JID", "PASSWORD"), default=[])
    parser.add_argument("--component", nargs=3, metavar=("DOMAIN", "SECRET", "PORT"),
                        help="an XEP-0114 component the scenario connects as")
    args = parser.parse_args()
    if len(args.account) < accounts:
        parser.error(f"this scenario needs {accounts} --account JID PASSWORD")
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.CRITICAL, stream=sys.stderr)

    clients = []

    def client(jid, password, plugins=()):
        c = Client(jid, password, args, plugins)
        clients.append(c)
        return c

    result = {"ok": False}

    async def run():
        try:
            await scenario(args, args.account, client, result)
        finally:
            for c in clients:
                c.stop()
            await asyncio.sleep(0.1)

    try:
        asyncio.new_event_loop().run_until_complete(run())
        code = 0 if result.get("ok") else 1
    except AuthFailed as e:
        result.update(ok=False, error=str(e), condition=e.condition)
        code = 1
    except asyncio.TimeoutError:
        result.update(ok=False, error=f"timed out after {args.timeout} s")
        code = 1
    except slixmpp.exceptions.IqError as e:
        result.update(ok=False, error=f"iq error: {e.condition} {e.text}".strip(), condition=e.condition)
        code = 1
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        result.update(ok=False, error=f"{type(e).__name__}: {e}")
        code = 2
    print(json.dumps(result), flush=True)
    sys.exit(code)
