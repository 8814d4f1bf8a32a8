import { saslprep as mongoSaslprep } from '@mongodb-js/saslprep';

/** RFC 4013 SASLprep of a username or password; throws on prohibited characters. */
export function saslprep(s: string): string {
  // Fast path: printable ASCII is unchanged by SASLprep.
  let ascii = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) {
      ascii = false;
      break;
    }
  }
  return ascii ? s : mongoSaslprep(s);
}
