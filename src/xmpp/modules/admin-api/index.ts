import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { addressList, requestAllowed } from '../../../util/address-list.js';
import { pathOf } from '../../../util/http-path.js';
import { tryParseJid, type Jid } from '../../../util/jid.js';
import { ConfigError } from '../../../util/options.js';
import { randomHex } from '../../../util/random-token.js';
import { x } from '../../../util/xml.js';
import { defineModule, type ModuleContext } from '../../module.js';

const MAX_BODY_BYTES = 64 * 1024;
const MESSAGE_TYPES = new Set(['chat', 'normal', 'headline']);

/** A refusal with its HTTP status; the body says why, as `{"error": …}`. */
class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type Json = Record<string, unknown>;

function send(res: ServerResponse, status: number, body?: Json): void {
  if (body === undefined) res.writeHead(status).end();
  else res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(`${JSON.stringify(body)}\n`);
}

/** The JSON object of the request, at most MAX_BODY_BYTES. */
async function readJson(req: IncomingMessage): Promise<Json> {
  if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) throw new ApiError(415, 'send application/json');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new ApiError(413, `at most ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new ApiError(400, 'the body is not JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ApiError(400, 'the body must be a JSON object');
  return body as Json;
}

function optionalString(body: Json, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new ApiError(400, `${key} must be a string`);
  return v;
}

/**
 * An HTTP/JSON API for the application a sori deployment serves (its backend,
 * not its users), like ejabberd's mod_http_api or MongooseIM's REST API:
 *
 *   GET    {path}accounts/{jid}           the account and its connected resources (every node)
 *   PUT    {path}accounts/{jid}           create it: {"password": …}, or {} for a token-only account
 *   PUT    {path}accounts/{jid}/password  {"password": …}
 *   DELETE {path}accounts/{jid}           remove it with everything kept for it, ending its sessions
 *   POST   {path}messages                 {"to", "body", "from"?, "type"?, "subject"?}: a message
 *                                         from a served domain or account (a system notice), routed
 *                                         as any other: delivered, archived, kept offline, pushed
 *
 * Off by default. Callers present `Authorization: Bearer <token>` and must
 * come from an address in `allow` (loopback by default).
 */
export default defineModule({
  name: 'admin-api',
  implements: 'HTTP/JSON administration for an application backend (accounts, sessions, messages)',
  defaultEnabled: false,
  options: {
    path: { type: 'string', default: '/api/', doc: 'HTTP path prefix of the API, on the HTTP listeners.' },
    token: { type: 'optional-string', doc: 'The bearer token callers present (Authorization: Bearer …), 32 characters at least. Required.' },
    allow: { type: 'string[]', default: ['127.0.0.1', '::1'], doc: 'Addresses and CIDR prefixes the API answers (e.g. your backend\'s network, "10.0.0.0/8").' },
  },
  start(ctx) {
    const { token, allow } = ctx.options;
    if (token === undefined || token.length < 32) throw new ConfigError('modules.options.admin-api.token: set a bearer token of 32 characters at least');
    const expected = createHash('sha256').update(token).digest();
    const allowed = addressList(allow, 'modules.options.admin-api.allow');
    const prefix = ctx.options.path.endsWith('/') ? ctx.options.path : `${ctx.options.path}/`;

    const authorized = (req: IncomingMessage): boolean => {
      const header = req.headers.authorization ?? '';
      if (!header.startsWith('Bearer ')) return false;
      // Hashed first, so the comparison takes the same time whatever the length given.
      return timingSafeEqual(createHash('sha256').update(header.slice(7)).digest(), expected);
    };

    ctx.httpRoute(prefix, (req, res) => {
      if (!requestAllowed(allowed, req)) return send(res, 403, { error: 'not served to this address, nor through a proxy (modules.options.admin-api.allow)' });
      if (!authorized(req)) {
        res.setHeader('www-authenticate', 'Bearer');
        return send(res, 401, { error: 'a valid bearer token is required' });
      }
      let parts: string[];
      try {
        parts = pathOf(req.url ?? '').slice(prefix.length).split('/').map(decodeURIComponent);
      } catch {
        return send(res, 400, { error: 'the path is not valid percent-encoding' });
      }
      handle(ctx, req.method ?? 'GET', parts, req).then(
        ([status, body]) => send(res, status, body),
        (e: unknown) => {
          if (e instanceof ApiError) return send(res, e.status, { error: e.message });
          ctx.log.warn(`admin API: ${req.method} ${req.url} failed`, e);
          send(res, 503, { error: 'the server could not do it now; retry later' });
        },
      );
    });
  },
});

/** An account JID on a served domain, from the path. */
function accountJid(ctx: ModuleContext, raw: string | undefined): Jid {
  const jid = tryParseJid(raw);
  if (jid === null || jid.local === '' || jid.resource !== '') throw new ApiError(400, `${raw} is not an account JID`);
  if (!ctx.server.isLocalDomain(jid.domain)) throw new ApiError(400, `${jid.domain} is not served here (${ctx.server.hosts.join(', ')})`);
  return jid;
}

async function handle(ctx: ModuleContext, method: string, parts: string[], req: IncomingMessage): Promise<[number, Json?]> {
  const [collection, id, sub, ...rest] = parts;
  if (collection === 'messages' && id === undefined) {
    if (method !== 'POST') throw new ApiError(405, 'POST a message');
    return sendMessage(ctx, await readJson(req));
  }
  if (collection !== 'accounts' || id === undefined || rest.length > 0 || (sub !== undefined && sub !== 'password')) throw new ApiError(404, 'no such resource');
  const jid = accountJid(ctx, id);
  const accounts = ctx.server.accounts;
  if (sub === 'password') {
    if (method !== 'PUT') throw new ApiError(405, 'PUT the password');
    const password = optionalString(await readJson(req), 'password');
    if (password === undefined || password === '') throw new ApiError(400, 'password is required');
    if (!(await accounts.exists(jid))) throw new ApiError(404, `no account ${jid.bare}`);
    await accounts.setPassword(jid, password);
    return [204];
  }
  switch (method) {
    case 'GET': {
      if (!(await accounts.exists(jid))) throw new ApiError(404, `no account ${jid.bare}`);
      const resources = await ctx.server.resources(jid.bare);
      return [200, { jid: jid.bare, resources: resources.map((r) => ({ jid: r.full, available: r.presence !== null, priority: r.priority })) }];
    }
    case 'PUT': {
      const password = optionalString(await readJson(req), 'password');
      if (password === '') throw new ApiError(400, 'password must not be empty (leave it out for an account that logs in with tokens)');
      if (!(await ctx.server.createAccount(jid, password ?? null))) throw new ApiError(409, `${jid.bare} exists already`);
      ctx.log.info(`admin API created ${jid.bare}`);
      return [201, { jid: jid.bare }];
    }
    case 'DELETE':
      if (!(await accounts.exists(jid))) throw new ApiError(404, `no account ${jid.bare}`);
      await ctx.server.deleteAccount(jid);
      ctx.log.info(`admin API deleted ${jid.bare}`);
      return [204];
    default:
      throw new ApiError(405, `${method} is not allowed here`);
  }
}

async function sendMessage(ctx: ModuleContext, body: Json): Promise<[number, Json]> {
  const to = tryParseJid(optionalString(body, 'to'));
  if (to === null) throw new ApiError(400, 'to must be a JID');
  const fromText = optionalString(body, 'from');
  const from = fromText === undefined ? tryParseJid(ctx.server.hosts[0]) : tryParseJid(fromText);
  // Only our own addresses: the API speaks for this server and its accounts, never for others.
  if (from === null || !ctx.server.isLocalDomain(from.domain)) throw new ApiError(400, `from must be a JID on a served domain (${ctx.server.hosts.join(', ')})`);
  const type = optionalString(body, 'type') ?? 'chat';
  if (!MESSAGE_TYPES.has(type)) throw new ApiError(400, 'type must be chat, normal or headline');
  const text = optionalString(body, 'body');
  if (text === undefined || text === '') throw new ApiError(400, 'body is required');
  const subject = optionalString(body, 'subject');
  const id = randomHex(8);
  await ctx.server.route(x('message', { from: from.full, to: to.full, type, id }, subject === undefined ? null : x('subject', null, subject), x('body', null, text)));
  return [202, { id }];
}
