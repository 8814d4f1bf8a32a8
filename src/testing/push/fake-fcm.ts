/**
 * A fake Firebase Cloud Messaging HTTP v1 endpoint: an HTTPS server answering
 * `POST /v1/projects/<id>/messages:send` the way fcm.googleapis.com does
 * (success `{name}`, errors as google.rpc.Status with an FcmError detail),
 * recording every request.
 */
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PushServiceScript } from './script.js';

export interface FakeFcmRequest {
  projectId: string;
  authorization: string;
  /** The `message` object of the request body. */
  message: Record<string, unknown>;
}

export interface FakeFcmOptions {
  key: string;
  cert: string;
  /** The OAuth2 access token the caller must present. */
  accessToken: string;
}

const SEND_PATH = /^\/v1\/projects\/([^/]+)\/messages:send$/;
const FCM_ERROR_TYPE = 'type.googleapis.com/google.firebase.fcm.v1.FcmError';
/** The characters FCM registration tokens are made of. */
const TOKEN = /^[\w:-]+$/;
/** FCM's limit on the keys and values of `data`. */
const MAX_DATA_BYTES = 4096;

function dataBytes(data: unknown): number {
  if (typeof data !== 'object' || data === null) return 0;
  let n = 0;
  for (const [k, v] of Object.entries(data)) n += Buffer.byteLength(k) + Buffer.byteLength(String(v));
  return n;
}

interface RpcError {
  httpStatus: number;
  status: string;
  message: string;
  fcmErrorCode?: string;
}

const ERRORS = {
  unregistered: { httpStatus: 404, status: 'NOT_FOUND', message: 'Requested entity was not found.', fcmErrorCode: 'UNREGISTERED' },
  badToken: { httpStatus: 400, status: 'INVALID_ARGUMENT', message: 'The registration token is not a valid FCM registration token', fcmErrorCode: 'INVALID_ARGUMENT' },
  tooBig: { httpStatus: 400, status: 'INVALID_ARGUMENT', message: 'Android message is too big', fcmErrorCode: 'INVALID_ARGUMENT' },
  unavailable: { httpStatus: 503, status: 'UNAVAILABLE', message: 'The service is currently unavailable.', fcmErrorCode: 'UNAVAILABLE' },
  internal: { httpStatus: 500, status: 'INTERNAL', message: 'Internal error encountered.', fcmErrorCode: 'INTERNAL' },
  unauthenticated: { httpStatus: 401, status: 'UNAUTHENTICATED', message: 'Request had invalid authentication credentials.' },
  notFound: { httpStatus: 404, status: 'NOT_FOUND', message: 'Not found.' },
} satisfies Record<string, RpcError>;

export class FakeFcm {
  readonly script = new PushServiceScript<FakeFcmRequest>();
  private readonly server: https.Server;
  private sent = 0;

  private constructor(private readonly options: FakeFcmOptions) {
    this.server = https.createServer({ key: options.key, cert: options.cert }, (req, res) => this.onRequest(req, res));
  }

  static async start(options: FakeFcmOptions): Promise<FakeFcm> {
    const fake = new FakeFcm(options);
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get requests(): FakeFcmRequest[] {
    return this.script.requests;
  }

  /** Stops listening and drops open connections (including hung requests). */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const reply = this.handle(req, Buffer.concat(chunks).toString('utf8'));
      if (reply === 'hang') return;
      const json = 'name' in reply ? reply : errorBody(reply);
      res.writeHead('name' in reply ? 200 : reply.httpStatus, { 'content-type': 'application/json; charset=UTF-8' });
      res.end(JSON.stringify(json));
    });
  }

  private handle(req: IncomingMessage, body: string): { name: string } | RpcError | 'hang' {
    const match = SEND_PATH.exec(req.url ?? '');
    if (req.method !== 'POST' || !match) return ERRORS.notFound;
    const projectId = match[1]!;
    const authorization = req.headers.authorization ?? '';
    if (authorization !== `Bearer ${this.options.accessToken}`) return ERRORS.unauthenticated;
    let message: Record<string, unknown>;
    try {
      message = (JSON.parse(body) as { message: Record<string, unknown> }).message;
    } catch {
      return { httpStatus: 400, status: 'INVALID_ARGUMENT', message: 'Invalid JSON payload received.' };
    }
    const scripted = this.script.record({ projectId, authorization, message });
    if (scripted !== undefined) return scripted === 'hang' ? 'hang' : ERRORS[scripted];
    const token = message.token;
    if (typeof token !== 'string' || !TOKEN.test(token)) return ERRORS.badToken;
    if (dataBytes(message.data) > MAX_DATA_BYTES) return ERRORS.tooBig;
    if (this.script.isDead(token)) return ERRORS.unregistered;
    this.sent += 1;
    return { name: `projects/${projectId}/messages/${this.sent}` };
  }
}

function errorBody(error: RpcError): Record<string, unknown> {
  return {
    error: {
      code: error.httpStatus,
      message: error.message,
      status: error.status,
      ...(error.fcmErrorCode && { details: [{ '@type': FCM_ERROR_TYPE, errorCode: error.fcmErrorCode }] }),
    },
  };
}
