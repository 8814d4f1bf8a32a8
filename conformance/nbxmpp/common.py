"""Shared helpers for the nbxmpp conformance scripts (python-nbxmpp, Gajim's protocol layer).

Every script takes the server address and accounts on its command line, runs one
scenario, prints ONE JSON object on stdout and exits 0 when the scenario's "ok"
is true, 1 when it is false, 2 when the harness itself broke:

    /usr/bin/python3 conformance/nbxmpp/SCRIPT.py --host 127.0.0.1 --port 5222 \
        --account alice@localhost secret --account bob@localhost secret

Run them with Debian's /usr/bin/python3 (python3-nbxmpp, GLib through python3-gi).

nbxmpp is callback-driven on the GLib main loop, as in Gajim. The scripts read
top to bottom anyway: `wait_for()` turns the default GLib main context until a
condition holds or the step's timeout passes, so callbacks run exactly as they
do under Gajim's own main loop.

The certificate: sori's test certificate is self-signed. Gajim shows the TLS
errors and lets the user ignore them for the account, which ends up as
`Client.set_ignored_tls_errors()`; `--verify` turns that off.
"""
import argparse
import json
import logging
import re
import socket
import sys
import threading
import time
import uuid

try:
    import gi
    gi.require_version("Gio", "2.0")
    gi.require_version("GLib", "2.0")
    from gi.repository import Gio, GLib
    import nbxmpp
    from nbxmpp.client import Client
    from nbxmpp.errors import StanzaError
    from nbxmpp.const import ConnectionProtocol, ConnectionType, Mode, StreamError
    from nbxmpp.structs import StanzaHandler
except (ImportError, ValueError) as e:  # pragma: no cover - message for the person running it
    print(json.dumps({"ok": False, "error": f"nbxmpp is missing ({e}): apt-get install -y python3-nbxmpp "
                      "and run with /usr/bin/python3"}))
    sys.exit(2)


AUTH_MECHANISM = re.compile(r"""<auth\b[^>]*\bmechanism=["']([^"']+)""")


class Timeout(Exception):
    pass


class LoginFailed(Exception):
    """The stream ended before the session was active; `domain`/`condition` are nbxmpp's error."""

    def __init__(self, domain, condition, text, tls_errors=None):
        super().__init__(f"login failed: {domain} {condition} {text or ''}".strip())
        self.domain = domain
        self.condition = condition
        self.tls_errors = tls_errors


def wait_for(cond, what, timeout):
    """Runs the GLib main loop until `cond()` is true; raises Timeout naming `what`."""
    deadline = time.monotonic() + timeout
    ctx = GLib.MainContext.default()
    # A periodic wake-up so that the deadline is checked while nothing happens on the wire.
    tick = GLib.timeout_add(50, lambda: True)
    try:
        while True:
            value = cond()
            if value:
                return value
            if time.monotonic() > deadline:
                raise Timeout(f"timed out after {timeout} s waiting for {what}")
            ctx.iteration(True)
    finally:
        GLib.source_remove(tick)


class Relay:
    """A TCP relay between a client and the server whose connections `cut()` ends under
    both of them, with no stream close from either, as when a phone changes networks.
    Threads pump the bytes, so the scripts' GLib loop plays no part in it."""

    def __init__(self, host, port):
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                down, _ = self.listener.accept()
            except OSError:
                return
            up = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [down, up]
            for src, dst in ((down, up), (up, down)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        with self.lock:
            cut, self.sockets = self.sockets, []
        for s in cut:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self):
        self.listener.close()
        self.cut()


def tls_error_names(errors):
    """Gio.TlsCertificateFlags as names, e.g. ["UNKNOWN_CA"]: what Gajim's certificate dialog lists."""
    return sorted(flag.first_value_nick.upper().replace("-", "_") for flag in errors or ())


class Account:
    """One nbxmpp Client set up as Gajim sets up an account, with what it saw recorded."""

    def __init__(self, jid, password, args, resource=None, port=None):
        self.args = args
        node, domain = jid.split("@", 1)
        self.client = Client(log_context=f"{jid}/{resource or '-'}")
        self.client.set_mode(Mode.CLIENT)
        self.client.set_domain(domain)
        self.client.set_username(node)
        self.client.set_resource(resource or unique("nbxmpp"))
        self.client.set_password(password)
        # Gajim's "custom host" account setting: TCP with STARTTLS, no SRV lookup.
        self.client.set_custom_host(f"{args.host}:{port or args.port}", ConnectionProtocol.TCP, ConnectionType.START_TLS)
        if not args.verify:
            self.client.set_ignored_tls_errors({Gio.TlsCertificateFlags.UNKNOWN_CA})
        self.events = []  # signal names in order
        self.messages = []  # (stanza, properties) of every message handed to handlers
        self.chosen_mechanism = None
        for signal in ("connected", "disconnected", "connection-failed", "resume-successful", "resume-failed"):
            self.client.subscribe(signal, self._on_signal)
        self.client.subscribe("stanza-sent", self._on_sent)
        self.client.register_handler(StanzaHandler(name="message", callback=self._on_message, priority=60))

    def _on_signal(self, _client, signal, *_args):
        self.events.append(signal)

    def _on_sent(self, _client, _signal, data):
        # The mechanism as nbxmpp put it on the wire in <auth mechanism='...'/>.
        found = AUTH_MECHANISM.search(str(data))
        if found and self.chosen_mechanism is None:
            self.chosen_mechanism = found.group(1)

    def _on_message(self, _client, stanza, properties):
        self.messages.append((stanza, properties))

    @property
    def jid(self):
        return self.client.get_bound_jid()

    def count(self, signal):
        return self.events.count(signal)

    def connect(self):
        """Connects and waits for the "connected" signal: bound, with <enable/> sent if SM is offered.

        Raises LoginFailed with nbxmpp's error when the connection ends first."""
        before = self.count("connected")
        ended = self.count("disconnected") + self.count("connection-failed")
        self.client.connect()

        def done():
            if self.count("connected") > before:
                return True
            if self.count("disconnected") + self.count("connection-failed") > ended:
                if self.client.has_error:
                    domain, condition, text = self.client.get_error()
                    tls_errors = None
                    if domain == StreamError.BAD_CERTIFICATE:
                        tls_errors = tls_error_names(self.client.peer_certificate[1])
                    raise LoginFailed(getattr(domain, "name", str(domain)), condition, text, tls_errors)
            return False

        wait_for(done, "connected", self.args.timeout)

    def send(self, stanza):
        return self.client.send_stanza(stanza)

    def iq(self, stanza):
        """Sends an iq the way Gajim's own modules do (send_stanza with a callback); returns the answer."""
        box = []
        self.client.send_stanza(stanza, callback=lambda _client, answer: box.append(answer))
        wait_for(lambda: box, f"the answer to iq {stanza.getID()}", self.args.timeout)
        return box[0]

    def request(self, method, *args, **kwargs):
        """Runs an nbxmpp iq task (e.g. get_module('MAM').make_query) and returns its result."""
        box = {}

        # nbxmpp holds done-callbacks weakly (Gajim passes bound methods of long-lived
        # objects), so this one must stay referenced until the task finishes; and the
        # task forgets its result after the callbacks, so finish() is called in one.
        def done(task):
            try:
                box["result"] = task.finish()
            except Exception as error:  # noqa: BLE001 - raised again below, in the scenario
                box["error"] = error

        method(*args, callback=done, **kwargs)
        wait_for(lambda: box, method.__name__, self.args.timeout)
        if "error" in box:
            raise box["error"]
        return box["result"]

    def next_message(self, pred, what):
        """The first (stanza, properties) received so far, or later, for which pred holds."""
        def find():
            for item in self.messages:
                if pred(*item):
                    return item
            return None

        return wait_for(find, what, self.args.timeout)

    def stop(self):
        if self.client.state.name not in ("DISCONNECTED", "DISCONNECTING"):
            self.client.disconnect()
            try:
                wait_for(lambda: self.client.state.name == "DISCONNECTED", "disconnect", 2)
            except Timeout:
                pass


def go_online(result, *clients):
    """Logs each client in and sends initial presence, as Gajim does after login: a message to a bare JID reaches
    only available resources."""
    result["step"] = "login"
    for c in clients:
        c.connect()
        c.send(nbxmpp.Presence())


def chat(to, body, id_=None):
    msg = nbxmpp.Message(to=to, body=body, typ="chat")
    msg.setID(id_ or unique("id"))
    return msg


def unique(prefix="m"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def main(scenario, accounts=1):
    """Parses the arguments, runs `scenario(args, accounts, account, result)` and prints `result`.

    The scenario fills `result`; it sets result["step"] before each wait so that a
    time-out or error says where it happened, and result["ok"] at the end.
    `account(jid, password, resource=None, port=None)` makes an Account that is stopped
    afterwards; `port` overrides --port (e.g. a Relay's)."""
    parser = argparse.ArgumentParser(description=scenario.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5222)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per awaited step")
    parser.add_argument("--verify", action="store_true", help="verify the server certificate")
    parser.add_argument("--debug", action="store_true", help="nbxmpp debug log on stderr")
    parser.add_argument("--account", nargs=2, action="append", metavar=("JID", "PASSWORD"), default=[])
    args = parser.parse_args()
    if len(args.account) < accounts:
        parser.error(f"this scenario needs {accounts} --account JID PASSWORD")
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.CRITICAL, stream=sys.stderr)

    made = []

    def account(jid, password, resource=None, port=None):
        a = Account(jid, password, args, resource, port)
        made.append(a)
        return a

    result = {"ok": False, "nbxmpp": nbxmpp.__version__}
    try:
        try:
            scenario(args, args.account, account, result)
        finally:
            for a in made:
                a.stop()
        code = 0 if result.get("ok") else 1
    except LoginFailed as e:
        result.update(ok=False, error=str(e), condition=e.condition, error_domain=e.domain)
        if e.tls_errors is not None:
            result["tls_errors"] = e.tls_errors
        code = 1
    except Timeout as e:
        result.update(ok=False, error=str(e))
        code = 1
    except StanzaError as e:
        result.update(ok=False, error=f"stanza error: {e}", condition=e.condition)
        code = 1
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        if args.debug:
            import traceback
            traceback.print_exc()
        result.update(ok=False, error=f"{type(e).__name__}: {e}")
        code = 2
    print(json.dumps(result, default=str), flush=True)
    sys.exit(code)
