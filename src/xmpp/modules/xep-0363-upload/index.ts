import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream';
import { pathOf } from '../../../util/http-path.js';
import { closeAfterAnswer } from '../../../util/http-linger.js';
import { randomBytes } from 'node:crypto';
import { parseJid, type Jid } from '../../../util/jid.js';
import { KeyLocks } from '../../../util/key-locks.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { buildForm, formTypeField } from '../../../util/data-form.js';
import { StanzaError } from '../../errors.js';
import { answerServiceIqs } from '../../service-iq.js';
import type { RouteEvent } from '../../events.js';
import { defineModule } from '../../module.js';
import type { DiscoApi } from '../xep-0030-disco/api.js';
import { requestedRange } from './byte-range.js';
import { fileEtag, ifRangeAllows, noneMatchFails } from './conditional.js';
import { DiskFileStore, SizeMismatchError, type FileStore } from './file-store.js';
import { DEFAULT_CONTENT_TYPE, newSlotId, normaliseContentType, safeFilename, slotToken, tokenMatches, urlSegment, type Slot, type UserFile } from './slots.js';

export { DiskFileStore, type FileStore, type FileMeta } from './file-store.js';
export const NS_UPLOAD = 'urn:xmpp:http:upload:0';

const SLOTS = 'upload_slots';
const FILES = 'upload_files';
const SECRET_PK = '~secret';

export interface UploadModuleDeps {
  /** Replaces the disk store (files under dataDir/uploads or the `dir` option). */
  store?: FileStore;
}

function cors(res: ServerResponse): void {
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.setHeader('Access-Control-Allow-Methods', 'GET, HEAD, PUT, OPTIONS');
  res.setHeader('Access-Control-Allow-Headers', 'Authorization, Content-Type, Range, If-Range, If-None-Match');
  res.setHeader('Access-Control-Expose-Headers', 'Accept-Ranges, Content-Range, ETag');
  res.setHeader('Access-Control-Max-Age', '86400');
}

function reply(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(`${text}\n`);
}

/** Answers a PUT refused before its body was read, then closes the connection (closeAfterAnswer says why). */
function refuse(res: ServerResponse, status: number, text: string): void {
  closeAfterAnswer(res);
  reply(res, status, text);
}

/** Whether a PUT's body failed because the client's connection went, not the server's disk or store. */
function clientWentAway(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE';
}

/**
 * XEP-0363 HTTP File Upload. A service JID per served domain
 * (`upload.<domain>`, listed in the server's disco#items) grants slots; the
 * bytes go over sori's own HTTP listeners (`ctx.httpRoute`), the WebSocket
 * ports (5280 / 5443 by default), under `httpPath`.
 *
 *  - Slot request: size limit (`file-too-large` with max-file-size), per-user
 *    quota over kept and pending files (the oldest uploads make room, or
 *    `resource-constraint`), slots lapse after `slotSeconds`.
 *  - PUT: must carry the slot's `Authorization: Bearer <HMAC token>` header,
 *    exactly the granted size and the granted content type; one upload per slot.
 *  - GET/HEAD: public capability URLs (the slot id is 144 random bits), served
 *    with the stored content type, `nosniff` and a CSP that stops uploaded HTML
 *    from running as the server's origin; GET serves a byte range if asked.
 *  - Files stay until `fileExpirySeconds` (0: forever) or account removal.
 *
 * Slots and per-user file lists are table rows, so any cluster node can take a
 * PUT for a slot another node granted (with a shared FileStore behind them).
 */
export function createUploadModule(deps: UploadModuleDeps = {}) {
  return defineModule({
    name: 'upload',
    implements: 'XEP-0363',
    depends: ['disco'],
    options: {
      jid: { type: 'optional-string', doc: 'Service JID; default `upload.<domain>` for every served domain.' },
      urlBase: { type: 'optional-string', doc: 'Public URL the slot URLs start with (reverse proxies); default `https://<domain>:<websocket.tlsPort><httpPath>`.' },
      httpPath: { type: 'string', default: '/upload/', doc: 'Path prefix served on the HTTP (WebSocket) listeners.' },
      dir: { type: 'optional-string', doc: 'Directory of the disk file store; default dataDir/uploads.' },
      maxFileSize: { type: 'number', default: 100 * 1024 * 1024, min: 1, integer: true, doc: 'Largest file in bytes (advertised as max-file-size).' },
      quotaBytes: { type: 'number', default: 1024 * 1024 * 1024, min: 0, integer: true, doc: 'Bytes each user may keep (uploaded plus granted slots); 0: no quota.' },
      quotaDeletesOldest: { type: 'boolean', default: true, doc: "When a new file would pass quotaBytes, the user's oldest uploads are deleted to make room (XEP-0363 §7: keep the latest ones); false refuses it (resource-constraint), which with files kept for ever ends the user's uploads for good." },
      slotSeconds: { type: 'number', default: 300, min: 1, doc: 'How long a slot can be used for its PUT.' },
      fileExpirySeconds: { type: 'number', default: 0, min: 0, doc: 'Files are deleted this long after upload; 0 keeps them.' },
      sweepSeconds: { type: 'number', default: 3600, min: 1, doc: 'How often expired files and unused slots are cleaned up.' },
      secret: { type: 'optional-string', doc: 'HMAC key of PUT tokens; by default a random key kept in the upload_slots table (shared by the cluster).' },
    },
    tables: [
      { name: SLOTS, ttl: true, description: 'XEP-0363 slots granted and not yet used (pk slot id), and the token key.' },
      { name: FILES, description: "XEP-0363 files per user (pk owner bare JID, sk slot id): quota and expiry." },
    ],
    async start(ctx) {
      const opts = ctx.options;
      const server = ctx.server;
      const slots = ctx.table(SLOTS);
      const files = ctx.table(FILES);
      const store = deps.store ?? new DiskFileStore(opts.dir ?? server.dataPath('uploads'));
      const disco = ctx.use<DiscoApi>('disco');
      const httpPath = opts.httpPath.endsWith('/') ? opts.httpPath : `${opts.httpPath}/`;

      let secret = opts.secret;
      if (secret === undefined) {
        await slots.put(SECRET_PK, 'secret', randomBytes(32).toString('base64url'), { ifNotExists: true });
        secret = (await slots.get(SECRET_PK, 'secret'))!;
      }
      const key = secret;

      /** Service domain → the served domain it belongs to. */
      const services = new Map<string, string>();
      for (const host of server.hosts) services.set(opts.jid ?? `upload.${host}`, host);
      for (const service of services.keys()) ctx.onStop(disco.addItem({ jid: service, name: 'HTTP File Upload' }));
      // The bytes go over the WebSocket TLS listener, wherever it is configured to listen.
      const tlsPort = server.httpsPort;
      if (opts.urlBase === undefined && tlsPort === 0) ctx.log.warn('upload: websocket.tlsPort is 0 and no urlBase is set, so slot URLs name no listener');
      const urlBase = (host: string): string => {
        const base = opts.urlBase ?? `https://${host}:${tlsPort}${httpPath}`;
        return base.endsWith('/') ? base : `${base}/`;
      };

      const quotaLocks = new KeyLocks();

      /**
       * Whether `size` more bytes fit the owner's quota, deleting the oldest
       * uploads first when the options allow: only as many as it takes, and
       * none when even that would not do (granted slots are not deleted).
       */
      async function makeRoom(owner: string, size: number, now: number): Promise<boolean> {
        let used = 0;
        const uploaded: Array<{ sk: string; file: UserFile }> = [];
        for (const row of await files.store.range(FILES, owner)) {
          const file = JSON.parse(row.value) as UserFile;
          if (file.pending && file.slotExpiresMs < now) continue;
          used += file.size;
          if (!file.pending) uploaded.push({ sk: row.sk, file });
        }
        if (used + size <= opts.quotaBytes) return true;
        if (!opts.quotaDeletesOldest) return false;
        uploaded.sort((a, b) => a.file.createdMs - b.file.createdMs);
        const oldest: typeof uploaded = [];
        for (const u of uploaded) {
          if (used + size <= opts.quotaBytes) break;
          oldest.push(u);
          used -= u.file.size;
        }
        if (used + size > opts.quotaBytes) return false;
        for (const { sk, file } of oldest) {
          await store.delete(file.key);
          await files.store.delete(FILES, owner, sk);
        }
        return true;
      }

      async function requestSlot(from: Jid, host: string, req: XmlElement): Promise<XmlElement> {
        const filename = safeFilename(req.attrs.filename ?? '');
        const size = Number(req.attrs.size);
        if (filename === null) throw new StanzaError('bad-request', 'filename is missing or unusable');
        if (!/^\d+$/.test(req.attrs.size ?? '') || !Number.isSafeInteger(size) || size < 1) throw new StanzaError('bad-request', 'size must be a positive integer');
        if (size > opts.maxFileSize) {
          throw new StanzaError('not-acceptable', `file too large, the limit is ${opts.maxFileSize} bytes`, 'modify', x('file-too-large', { xmlns: NS_UPLOAD }, x('max-file-size', null, String(opts.maxFileSize))));
        }
        const owner = from.bare;
        const now = Date.now();
        const id = newSlotId();
        const slot: Slot = { owner, filename, size, contentType: normaliseContentType(req.attrs['content-type']), expiresMs: now + opts.slotSeconds * 1000 };
        const entry: UserFile = { size, createdMs: now, key: `${id}/${filename}`, pending: true, slotExpiresMs: slot.expiresMs };
        // Checked and reserved in one step per account: slot requests sent at once must not all pass the quota.
        await quotaLocks.with([owner], async () => {
          if (opts.quotaBytes > 0 && !(await makeRoom(owner, size, now))) {
            throw new StanzaError('resource-constraint', `upload quota of ${opts.quotaBytes} bytes reached`, 'wait');
          }
          await files.putJson(owner, id, entry);
        });
        await slots.putJson(id, 'slot', slot, { ttlSeconds: Math.ceil(opts.slotSeconds) + 60 });
        const url = `${urlBase(host)}${id}/${urlSegment(filename)}`;
        return x(
          'slot',
          { xmlns: NS_UPLOAD },
          x('put', { url }, x('header', { name: 'Authorization' }, `Bearer ${slotToken(key, id, slot)}`)),
          x('get', { url }),
        );
      }

      async function answer(ev: RouteEvent, host: string): Promise<XmlElement | null> {
        const iq = ev.stanza;
        const payload = iq.elements()[0]!;
        if (iq.attrs.type === 'get' && payload.attrs.xmlns === NS_UPLOAD && payload.name === 'request') {
          // Only accounts of this server get slots.
          if (!server.isLocalDomain(ev.from.domain) || ev.from.local === '') throw new StanzaError('not-allowed', 'uploads are for local accounts');
          return requestSlot(ev.from, host, payload);
        }
        throw new StanzaError('service-unavailable');
      }

      const info = {
        identity: { category: 'store', type: 'file', name: 'HTTP File Upload' },
        features: [NS_UPLOAD],
        // §3: the limit, so that clients can refuse large files before asking.
        forms: [buildForm({ type: 'result', fields: [formTypeField(NS_UPLOAD), { var: 'max-file-size', values: [String(opts.maxFileSize)] }] })],
      };
      answerServiceIqs(ctx, services, info, answer);

      // ---- HTTP ----

      async function put(req: IncomingMessage, res: ServerResponse, id: string, name: string): Promise<void> {
        const slot = await slots.getJson<Slot>(id, 'slot');
        const auth = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
        if (slot === undefined || slot.filename !== name || auth === undefined || !tokenMatches(slotToken(key, id, slot), auth)) return refuse(res, 403, 'no such slot, or not authorised');
        if (slot.expiresMs < Date.now()) return refuse(res, 403, 'the slot has expired');
        // An account deleted since it was granted the slot keeps nothing here (its name may be someone else's next).
        if (!(await server.accounts.exists(parseJid(slot.owner)))) return refuse(res, 403, 'the account that was granted this slot is gone');
        const length = Number(req.headers['content-length']);
        if (req.headers['content-length'] === undefined || !Number.isSafeInteger(length)) return refuse(res, 411, 'Content-Length is required');
        if (length > slot.size) return refuse(res, 413, `the slot is for ${slot.size} bytes`);
        if (length !== slot.size) return refuse(res, 400, `the slot is for ${slot.size} bytes`);
        const type = req.headers['content-type'];
        if (normaliseContentType(type) !== slot.contentType && !(type === undefined && slot.contentType === DEFAULT_CONTENT_TYPE)) {
          return refuse(res, 415, `the slot is for content type ${slot.contentType}`);
        }
        // One PUT per slot: whoever takes the slot row first uploads.
        if (!(await slots.put(id, 'used', '1', { ifNotExists: true, ttlSeconds: Math.ceil(opts.slotSeconds) + 60 }))) return refuse(res, 409, 'already uploaded');
        // Only now is the body wanted (the route decides 100 Continue): a phone asking with a bad token sends none of it.
        if (req.headers.expect !== undefined) res.writeContinue();
        const fileKey = `${id}/${name}`;
        // Converse.js sends `Content-Type:` with nothing after it for a file the browser has no type for:
        // served back as is, that is a response naming no type at all.
        const stored = type === undefined || type.trim() === '' ? DEFAULT_CONTENT_TYPE : type.trim();
        try {
          await store.put(fileKey, req, { size: slot.size, contentType: stored, createdMs: Date.now() });
        } catch (e) {
          await slots.delete(id, 'used');
          if (e instanceof SizeMismatchError) return reply(res, 400, e.message);
          // A phone losing its network half way is routine, not a fault of the server's to alert anyone about.
          if (clientWentAway(e)) {
            ctx.log.info(`upload PUT ${id} abandoned by the client after part of the body`);
            return void res.destroy();
          }
          throw e;
        }
        const entry: UserFile = { size: slot.size, createdMs: Date.now(), key: fileKey, pending: false, slotExpiresMs: 0 };
        await files.putJson(slot.owner, id, entry);
        await slots.delete(id, 'slot');
        res.writeHead(201, { 'content-type': 'text/plain; charset=utf-8' }).end('created\n');
      }

      async function get(req: IncomingMessage, res: ServerResponse, id: string, name: string): Promise<void> {
        const file = await store.get(`${id}/${name}`);
        // An expired file is gone at once, not at the next sweep. 404 rather than 410: after the sweep the
        // server cannot tell it from a URL that never was, and RFC 9110 §15.5.11 asks for 404 then; one answer either way.
        const expiresMs = opts.fileExpirySeconds > 0 && file !== null ? file.meta.createdMs + opts.fileExpirySeconds * 1000 : Infinity;
        if (file === null || expiresMs <= Date.now()) return reply(res, 404, 'not found');
        const size = file.meta.size;
        const etag = fileEtag(id, size);
        res.setHeader('x-content-type-options', 'nosniff');
        res.setHeader('content-security-policy', "default-src 'none'; sandbox");
        // A cache must not serve the file past its expiry either.
        const maxAge = Math.min(31_536_000, Math.floor((expiresMs - Date.now()) / 1000));
        res.setHeader('cache-control', `public, max-age=${maxAge}, immutable`);
        res.setHeader('accept-ranges', 'bytes');
        res.setHeader('etag', etag);
        // RFC 9110 §13.2.2: If-None-Match before Range; a client that has the file gets no body again.
        if (noneMatchFails(req.headers['if-none-match'], etag)) return void res.writeHead(304).end();
        // RFC 9110 §14.2: ranges are for GET only, and one under an If-Range naming another version means the whole file.
        // Safari and iOS play audio and video only from servers that serve ranges; downloads resume with them.
        const range = req.method === 'GET' && ifRangeAllows(req.headers['if-range'], etag) ? requestedRange(req.headers.range, size) : null;
        if (range === 'unsatisfiable') {
          res.setHeader('content-range', `bytes */${size}`);
          return reply(res, 416, 'range not satisfiable');
        }
        res.writeHead(range === null ? 200 : 206, {
          'content-type': file.meta.contentType,
          'content-length': String(range === null ? size : range.end - range.start + 1),
          ...(range === null ? {} : { 'content-range': `bytes ${range.start}-${range.end}/${size}` }),
        });
        if (req.method === 'HEAD') {
          res.end();
          return;
        }
        // pipeline, not pipe: a client that stops reading (a player seeking, a download given up) must not keep the file open.
        pipeline(file.body(range ?? undefined), res, () => {});
      }

      ctx.httpRoute(httpPath, (req, res) => {
        cors(res);
        const path = pathOf(req.url ?? '').slice(httpPath.length);
        const parts = path.split('/');
        let name: string;
        try {
          name = decodeURIComponent(parts[1] ?? '');
        } catch {
          return reply(res, 400, 'bad path');
        }
        const id = parts[0] ?? '';
        if (req.method === 'OPTIONS') return void res.writeHead(204).end();
        if (parts.length !== 2 || !/^[A-Za-z0-9_-]{16,64}$/.test(id) || safeFilename(name) !== name) return reply(res, 404, 'not found');
        const work = req.method === 'PUT' ? put(req, res, id, name) : req.method === 'GET' || req.method === 'HEAD' ? get(req, res, id, name) : null;
        if (work === null) {
          res.setHeader('allow', 'GET, HEAD, PUT, OPTIONS');
          return reply(res, 405, 'method not allowed');
        }
        work.catch((e: unknown) => {
          ctx.log.error(`upload ${req.method} ${id} failed`, e);
          reply(res, 500, 'internal error');
        });
      }, { decidesContinue: true });

      // ---- expiry ----

      async function sweep(): Promise<void> {
        const now = Date.now();
        for await (const row of files.store.scan(FILES)) {
          const f = JSON.parse(row.value) as UserFile;
          const expired = f.pending ? f.slotExpiresMs + 60_000 < now : opts.fileExpirySeconds > 0 && f.createdMs + opts.fileExpirySeconds * 1000 < now;
          if (!expired) continue;
          if (!f.pending) await store.delete(f.key);
          await files.store.delete(FILES, row.pk, row.sk);
        }
      }
      ctx.every(opts.sweepSeconds * 1000, () => sweep().catch((e: unknown) => ctx.log.warn('upload sweep failed', e)));

      ctx.hook('account/deleted', async ({ jid }) => {
        for (const row of await files.store.range(FILES, jid.bare)) {
          const f = JSON.parse(row.value) as UserFile;
          await store.delete(f.key);
        }
        await files.store.deletePartition(FILES, jid.bare);
      });
    },
  });
}

export default createUploadModule();
