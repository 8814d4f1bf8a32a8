/**
 * Splits a normalised full JID at its first '/' (a bare JID cannot contain
 * one); a bare JID gives resource ''. Session tables key entries by account and
 * resource, and take JIDs already normalised by the stream layer, so no
 * parsing is needed here.
 */
export function splitFullJid(fullJid: string): { bare: string; resource: string } {
  const slash = fullJid.indexOf('/');
  return slash === -1 ? { bare: fullJid, resource: '' } : { bare: fullJid.slice(0, slash), resource: fullJid.slice(slash + 1) };
}
