import type { XmlElement } from '../../../util/xml.js';
import { parseDateTimeUs } from '../../../util/xep-0082-datetime.js';
import { delayElement } from '../../delay.js';
import type { HistoryEntry } from './room.js';

/**
 * The discussion history a joining client gets (§7.2.15), as it asked for it
 * in `<history/>` (maxstanzas, seconds, since, maxchars), each message
 * addressed to `to` and stamped with its delay (XEP-0203) by the room.
 */
export function historyMessages(roomJid: string, history: readonly HistoryEntry[], to: string, req: XmlElement | undefined, nowMs = Date.now()): XmlElement[] {
  let entries = history;
  if (req !== undefined) {
    const num = (name: string): number | undefined => {
      const v = req.attrs[name];
      return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
    };
    const maxStanzas = num('maxstanzas');
    const seconds = num('seconds');
    const sinceUs = req.attrs.since !== undefined ? parseDateTimeUs(req.attrs.since) : null;
    if (seconds !== undefined) entries = entries.filter((e) => e.ms >= nowMs - seconds * 1000);
    if (sinceUs !== null) entries = entries.filter((e) => e.ms * 1000 > sinceUs);
    if (maxStanzas !== undefined) entries = maxStanzas === 0 ? [] : entries.slice(-maxStanzas);
    const maxChars = num('maxchars');
    if (maxChars !== undefined) {
      let total = 0;
      const kept: HistoryEntry[] = [];
      for (let i = entries.length - 1; i >= 0; i--) {
        total += entries[i]!.stanza.toString().length;
        if (total > maxChars) break;
        kept.unshift(entries[i]!);
      }
      entries = kept;
    }
  }
  return entries.map((e) => {
    const m = e.stanza.clone();
    m.attrs.to = to;
    m.append(delayElement(e.ms, roomJid));
    return m;
  });
}
