import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type Server as NetServer, type AddressInfo, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { WebSocketServer } from 'ws';
import type { Server } from '../server.js';
import { pathOf, servesPath } from '../../util/http-path.js';
import { C2sConnection } from '../stream/c2s.js';
import { BoshEndpoint } from './bosh-endpoint.js';
import { serverTlsOptions, type TlsCredentials } from './certificate.js';
import { ClientTls } from './rustls.js';
import { TcpTransport } from './tcp.js';
import { WebSocketTransport } from './websocket.js';


/** The longest an HTTP request (an upload's PUT) may take to arrive whole. */
const REQUEST_TIME_LIMIT_MS = 60 * 60 * 1000;
export interface Listening {
  /** Bound ports by listener name (c2s, c2s-tls, ws, wss), useful when configured as 0 → ephemeral. */
  ports: Record<string, number>;
  close(): Promise<void>;
}

/**
 * Opens the configured listeners. A port of 0 in config disables a listener;
 * the `ephemeral` flag (tests) turns every enabled port into a random free one.
 */
export async function listen(server: Server, tls: TlsCredentials, opts: { ephemeral?: boolean } = {}): Promise<Listening> {
  const cfg = server.config;
  const host = cfg.server.bind;
  const ports: Record<string, number> = {};
  const closers: (() => Promise<void>)[] = [];
  const port = (p: number): number => (opts.ephemeral ? 0 : p);

  // Server.close() waits for open connections; on shutdown they are ended here.
  const sockets = new Set<Socket>();
  // One handler for every socket ('close' comes once): a closure per connection would stay with each idle session.
  const untrack = function (this: Socket): void {
    sockets.delete(this);
  };
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.on('close', untrack);
  };
  closers.push(async () => {
    for (const s of sockets) s.destroy();
  });

  const bindNet = async (name: string, srv: NetServer, p: number): Promise<void> => {
    srv.on('connection', track);
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen({ port: port(p), host, backlog: 4096 }, () => resolve());
    });
    ports[name] = (srv.address() as AddressInfo).port;
    closers.push(() => new Promise((r) => srv.close(() => r())));
    server.log.info(`${name} listening on ${host}:${ports[name]}`);
  };

  const clientTls = new ClientTls(cfg.tls.engine, tls, server.log);
  if (cfg.c2s.port || cfg.c2s.directTlsPort) server.log.info(`client TLS on TCP runs on ${clientTls.engine === 'rustls' ? 'rustls (native/tls)' : "Node's TLS"}`);
  if (cfg.c2s.port) {
    const srv = createTcpServer((socket) => new C2sConnection(server, new TcpTransport(socket, clientTls.forStartTls())));
    await bindNet('c2s', srv, cfg.c2s.port);
  }
  if (cfg.c2s.directTlsPort && clientTls.engine === 'rustls') {
    const srv = createTcpServer((socket) => new C2sConnection(server, new TcpTransport(socket, clientTls.forDirectTls(), true)));
    await bindNet('c2s-tls', srv, cfg.c2s.directTlsPort);
  } else if (cfg.c2s.directTlsPort) {
    const srv = createTlsServer({ ...serverTlsOptions, cert: tls.cert, key: tls.key, ALPNProtocols: ['xmpp-client'] }, (socket) => new C2sConnection(server, new TcpTransport(socket, null)));
    // ALPN and the other server options stay; only the context (certificate, key, suites) is replaced.
    tls.onReplaced?.((c) => srv.setSecureContext({ ...serverTlsOptions, cert: c.cert, key: c.key }));
    srv.on('tlsClientError', () => {});
    await bindNet('c2s-tls', srv, cfg.c2s.directTlsPort);
  }
  const boshPath = cfg.bosh.path;
  const requestHandler = (bosh: BoshEndpoint | null) => (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '/';
    if (bosh !== null && servesPath(boshPath, pathOf(url))) return bosh.handle(req, res);
    const handler = server.registrations.httpRouteFor(url);
    if (handler !== undefined) return handler(req, res);
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  };
  const wsPath = cfg.websocket.path;
  const mountWs = async (name: string, p: number, secure: boolean): Promise<void> => {
    const bosh = boshPath === '' ? null : new BoshEndpoint(server, secure || cfg.websocket.consideredSecure);
    const onRequest = requestHandler(bosh);
    let http: HttpServer;
    if (secure) {
      const https = createHttpsServer({ ...serverTlsOptions, cert: tls.cert, key: tls.key }, onRequest);
      tls.onReplaced?.((c) => https.setSecureContext({ ...serverTlsOptions, cert: c.cert, key: c.key }));
      http = https;
    } else http = createHttpServer(onRequest);
    // With a listener here Node sends no 100 Continue by itself: a refused upload then costs the phone no body.
    http.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
      const url = req.url ?? '/';
      if (bosh !== null && servesPath(boshPath, pathOf(url))) res.writeContinue();
      else server.registrations.continueUnlessDecided(url, res);
      onRequest(req, res);
    });
    // Node cuts a request that has not fully arrived after 5 minutes: a 100 MB upload from a phone on a slow
    // uplink takes longer. Headers must still come within Node's headersTimeout.
    http.requestTimeout = REQUEST_TIME_LIMIT_MS;
    if (bosh !== null) closers.push(async () => bosh.close());
    const wss = new WebSocketServer({
      server: http,
      path: wsPath,
      // The stanza limit counts characters (UTF-16 units), and one takes up to 3 bytes of UTF-8: a message
      // within it must reach the parser, and one beyond it gets the parser's policy-violation, not a bare 1009 close.
      maxPayload: cfg.c2s.maxStanzaSize * 3 + 1024,
      perMessageDeflate: false,
      // RFC 7395 §3.1: the "xmpp" subprotocol is required.
      handleProtocols: (protocols) => (protocols.has('xmpp') ? 'xmpp' : false),
    });
    wss.on('connection', (ws, req) => {
      if (ws.protocol !== 'xmpp') {
        ws.close(1002, 'the xmpp subprotocol is required');
        return;
      }
      new C2sConnection(server, new WebSocketTransport(ws, req, secure || cfg.websocket.consideredSecure));
    });
    await bindNet(name, http, p);
    closers.push(async () => {
      for (const c of wss.clients) c.terminate();
      wss.close();
    });
  };
  if (cfg.websocket.port) await mountWs('ws', cfg.websocket.port, false);
  if (cfg.websocket.tlsPort) await mountWs('wss', cfg.websocket.tlsPort, true);

  return {
    ports,
    async close() {
      await Promise.all(closers.map((c) => c()));
    },
  };
}
