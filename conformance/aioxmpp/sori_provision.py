"""
aioxmpp e2etest provisioner that gives every client a fresh account on sori.

Why: aioxmpp's StaticPasswordProvisioner hands the same configured accounts to
every test (it rewinds to the first account in teardown), so bookmarks, PEP
nodes, rosters and archives that one test leaves are seen by the next, and a
test's result depends on which tests ran before it. Here each call of
get_connected_client() (the provisioner's own discovery login included) gets
an account that no earlier client used.

How: the account is created on demand with sori's admin API (module
`admin-api`, `PUT /api/accounts/<jid>`), which conformance/aioxmpp.test.ts
enables for this server. Measured on the 2-core machine: 5 ms an account,
against ~380 ms for XEP-0133 add-user through SoriProcess.addUser (a TLS login
as the admin per account) and ~1 s for `src/ctl.ts adduser` before start; on
demand also means no count of the accounts the suite needs to keep up to date.

Which node: the ini lists one or more nodes of one sori deployment, and the
n-th client goes to the (n mod count)-th. Against a cluster of two
(conformance/aioxmpp-cluster.test.ts) two clients made one after the other
are on different nodes, so every test with two clients crosses nodes. Each
account is created through the admin API of the next node in the list, not
the one its client logs in to, so that a login also checks that accounts
written on one node are seen on the others.

Configuration (the provisioner's section of the e2etest ini file): what
StaticPasswordProvisioner reads (domain, no_verify, quirks, block_features),
except `host`, `port` and `accounts`, plus
    nodes=                            one node a line:
        <host> <c2s port> <admin API base URL, http://127.0.0.1:<port>/api>
    token=<bearer token>              the admin API's token (the same on every node)
"""
import asyncio
import json
import os
import re
import secrets
import urllib.error
import urllib.request

import aioxmpp
import aioxmpp.connector
from aioxmpp.e2etest.provision import (
    StaticPasswordProvisioner,
    configure_quirks,
    configure_tls_config,
)

DEBIAN_AIOXMPP = "/usr/lib/python3/dist-packages/aioxmpp/"


def _test_name():
    """The running test's function name, to make account names readable in
    stanza logs ("test_leave"), or "setup" for the discovery login."""
    current = os.environ.get("PYTEST_CURRENT_TEST", "")
    name = current.split("::")[-1].split(" ")[0] if current else "setup"
    return re.sub(r"[^a-z0-9_]+", "_", name.lower())[:40] or "test"


class FreshAccountProvisioner(StaticPasswordProvisioner):
    def configure(self, section):
        # `python3 -m pytest` in the suite's directory puts that directory
        # first on sys.path: an aioxmpp/ from the tarball there would be
        # imported instead of Debian's, silently (tried). setup.sh unpacks
        # only tests/; this guards against a hand-made copy of the tarball.
        if not aioxmpp.__file__.startswith(DEBIAN_AIOXMPP):
            raise RuntimeError("aioxmpp imported from {}, not Debian's {}".format(
                aioxmpp.__file__, DEBIAN_AIOXMPP))
        # Skips StaticPasswordProvisioner.configure, which requires a list of
        # `accounts`; its parent reads block_features.
        super(StaticPasswordProvisioner, self).configure(section)
        self._domain = aioxmpp.JID.fromstr(section.get("domain"))
        self._nodes = []
        for line in section.get("nodes").strip().splitlines():
            host, port, api = line.split()
            self._nodes.append((host, int(port), api.rstrip("/")))
        if not self._nodes:
            raise RuntimeError("nodes= lists no node")
        self._tls_config = configure_tls_config(section)
        self._quirks = configure_quirks(section)
        self._token = section.get("token")
        self._created = 0
        # Against a server that outlives one run (by hand), names from an
        # earlier run exist already.
        self._run = secrets.token_hex(2)

    def _create_account(self, api, jid, password):
        request = urllib.request.Request(
            "{}/accounts/{}".format(api, jid),
            method="PUT",
            data=json.dumps({"password": password}).encode("utf-8"),
            headers={
                "authorization": "Bearer " + self._token,
                "content-type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
        except urllib.error.HTTPError as e:
            raise RuntimeError("admin API refused to create {}: {} {}".format(
                jid, e.code, e.read().decode("utf-8", "replace")))

    async def _make_client(self, logger):
        host, port, _ = self._nodes[self._created % len(self._nodes)]
        api = self._nodes[(self._created + 1) % len(self._nodes)][2]
        self._created += 1
        localpart = "{}-{}-{}".format(_test_name(), self._created, self._run)
        jid = aioxmpp.JID(localpart=localpart, domain=self._domain.domain,
                          resource=None)
        password = secrets.token_hex(12)
        await asyncio.get_running_loop().run_in_executor(
            None, self._create_account, api, str(jid), password)
        return aioxmpp.PresenceManagedClient(
            jid,
            aioxmpp.make_security_layer(password, **self._tls_config),
            override_peer=[(host, port,
                            aioxmpp.connector.STARTTLSConnector())],
            logger=logger,
        )

