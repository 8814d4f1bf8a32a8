import type { ServerResponse } from 'node:http';

/** How long a connection keeps taking (and dropping) body bytes once its answer is on its way. */
const LINGER_MS = 2000;

/**
 * Closes the connection once `res` is sent, for an answer given before the
 * request's body was read (refused, or over a size limit). Kept open, Node
 * would read the whole unwanted body to reach a next request, and a phone
 * would send all of a large file to have it thrown away. Closed at once, the
 * bytes still coming make the kernel reset the connection, and a reset loses
 * the answer before the client reads it: so the server half-closes and reads
 * on for a moment first (RFC 9112 §9.6, a "lingering close", as Apache does).
 */
export function closeAfterAnswer(res: ServerResponse): void {
  const socket = res.socket;
  if (socket === null) return;
  res.once('finish', () => {
    // Node goes on reading (and dropping) the body after the answer; `end` only stops the writing side.
    socket.end();
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  });
}
