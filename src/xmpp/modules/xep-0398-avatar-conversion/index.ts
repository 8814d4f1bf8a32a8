import { createHash } from 'node:crypto';
import type { Jid } from '../../../util/jid.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { defineModule } from '../../module.js';
import type { VcardApi } from '../xep-0054-vcard/index.js';
import { NS_VCARD } from '../xep-0054-vcard/index.js';
import type { PepApi } from '../xep-0163-pep/index.js';

export const NS_CONVERSION = 'urn:xmpp:pep-vcard-conversion:0';
const NS_AVATAR_METADATA = 'urn:xmpp:avatar:metadata';
const NS_AVATAR_DATA = 'urn:xmpp:avatar:data';
const NS_VCARD_UPDATE = 'vcard-temp:x:update';
const SK = 'sha1';
/** Before the presence module, which claims outbound presence. */
const BEFORE_PRESENCE = 100;

/** The XEP-0153 photo hash of a vCard: hex SHA-1 of the PHOTO's image bytes, '' for none. */
export function photoHash(vcard: XmlElement | null | undefined): string {
  const binval = vcard?.getChild('PHOTO')?.getChildText('BINVAL')?.replace(/\s+/g, '');
  return binval === undefined || binval === '' ? '' : createHash('sha1').update(Buffer.from(binval, 'base64')).digest('hex');
}

/**
 * Puts the account's photo hash into an available presence (XEP-0398 §4,
 * XEP-0153): added when the presence has no vcard-temp:x:update, filled in
 * when that element has no photo; a presence that names a photo (or says
 * "none" with an empty one) is left as the client sent it. No avatar ('')
 * is an empty `<photo/>`: contacts drop a cached avatar only when told so.
 */
export function injectPhotoHash(presence: XmlElement, hash: string): void {
  const update = presence.getChild('x', NS_VCARD_UPDATE);
  const photo = x('photo', null, hash === '' ? undefined : hash);
  if (update === undefined) presence.append(x('x', { xmlns: NS_VCARD_UPDATE }, photo));
  else if (update.getChild('photo') === undefined) update.append(photo);
}

/**
 * XEP-0398 User Avatar to vCard-Based Avatars Conversion. Modern clients
 * publish their avatar with PEP (XEP-0084); older ones, and everyone in a
 * MUC room without a presence subscription, read it from the vCard
 * (XEP-0153). When an avatar's metadata is published, its image (the
 * `info` without a URL, checked against its SHA-1 id) becomes the vCard's
 * PHOTO; a PHOTO set through vCard is published as the PEP avatar; and
 * every available presence an account sends carries the photo's hash
 * (an empty photo for none), directed presence (MUC joins) included. An
 * avatar whose data node is whitelist or roster access is kept out of the
 * vCard, which anyone may read (§6).
 *
 * The hash of each account with a session here is kept in memory, loaded
 * at bind, since presence is handled synchronously. A change made on
 * another cluster node reaches this node's sessions at their next bind.
 */
export default defineModule({
  name: 'avatar-conversion',
  implements: 'XEP-0398',
  depends: ['pep', 'vcard'],
  tables: [{ name: 'avatar_hash', readMostly: true, description: "XEP-0398: pk = account bare JID, sk = 'sha1', value = hex SHA-1 of the vCard photo ('' for none)." }],
  start(ctx) {
    const pep = ctx.use<PepApi>('pep');
    const vcards = ctx.use<VcardApi>('vcard');
    const table = ctx.table('avatar_hash');
    /** Photo hashes of accounts with sessions on this node, how many sessions each has, and whether the stored hash is still being read. */
    const loaded = new Map<string, { hash: string; sessions: number; reading: boolean }>();

    ctx.feature(NS_CONVERSION, 'account');

    ctx.hook('session/bound', async ({ session }) => {
      const bare = session.jid.bare;
      const entry = loaded.get(bare);
      if (entry !== undefined) {
        entry.sessions++;
        return;
      }
      const fresh = { hash: '', sessions: 1, reading: true };
      loaded.set(bare, fresh);
      const stored = (await table.get(bare, SK)) ?? '';
      // A vCard change that landed during the read is newer than what was read.
      if (fresh.reading) fresh.hash = stored;
      fresh.reading = false;
    });
    ctx.hook('session/closed', ({ session }) => {
      const entry = loaded.get(session.jid.bare);
      if (entry !== undefined && --entry.sessions <= 0) loaded.delete(session.jid.bare);
    });

    ctx.hook(
      'stanza/in',
      ({ session, stanza }) => {
        if (stanza.name !== 'presence' || stanza.attrs.type !== undefined) return false;
        const entry = loaded.get(session.jid.bare);
        // While the stored hash is being read it is unknown: better say nothing than a wrong "no avatar".
        if (entry !== undefined && !entry.reading) injectPhotoHash(stanza, entry.hash);
        return false;
      },
      BEFORE_PRESENCE,
    );

    ctx.hook('vcard/updated', async ({ owner, vcard }) => {
      const hash = photoHash(vcard);
      await table.put(owner.bare, SK, hash);
      const entry = loaded.get(owner.bare);
      if (entry !== undefined) {
        entry.hash = hash;
        entry.reading = false;
      }
      if (vcard === null || hash === '') return;
      try {
        await vcardToAvatar(owner, vcard, hash);
      } catch (e) {
        ctx.log.warn(`avatar-conversion: ${owner.bare}'s vCard photo could not be published with PEP`, e);
      }
    });

    /**
     * XEP-0398 §3.2: a photo set through vCard (by an XEP-0153 client) becomes
     * the PEP avatar, data then metadata, so XEP-0084 contacts do not keep an
     * older picture. Skipped when the metadata already names this image: that
     * is the vCard written from PEP below, and publishing again would loop.
     */
    async function vcardToAvatar(owner: Jid, vcard: XmlElement, hash: string): Promise<void> {
      const current = (await pep.items(owner, NS_AVATAR_METADATA)).at(-1)?.payload;
      if (current?.getChildren('info').some((i) => i.attrs.id?.toLowerCase() === hash) === true) return;
      const photo = vcard.getChild('PHOTO')!;
      const base64 = photo.getChildText('BINVAL')!.replace(/\s+/g, '');
      const bytes = Buffer.from(base64, 'base64').length;
      await pep.publish(owner, NS_AVATAR_DATA, hash, x('data', { xmlns: NS_AVATAR_DATA }, base64));
      const info = x('info', { id: hash, bytes: String(bytes), type: photo.getChildText('TYPE')?.trim() || 'image/png' });
      await pep.publish(owner, NS_AVATAR_METADATA, hash, x('metadata', { xmlns: NS_AVATAR_METADATA }, info));
    }

    ctx.hook('pep/published', async ({ owner, node, payload }) => {
      if (node !== NS_AVATAR_METADATA) return;
      try {
        await avatarToVcard(owner, payload);
      } catch (e) {
        ctx.log.warn(`avatar-conversion: ${owner.bare}'s avatar could not go into the vCard`, e);
      }
    });

    async function avatarToVcard(owner: Jid, metadata: XmlElement): Promise<void> {
      const vcard = (await vcards.get(owner)) ?? x('vCard', { xmlns: NS_VCARD });
      const withoutPhoto = x('vCard', { xmlns: NS_VCARD }, ...vcard.children.filter((c) => typeof c === 'string' || c.name !== 'PHOTO'));
      const infos = metadata.getChildren('info');
      // An empty <metadata/> turns the avatar off (XEP-0084 §4.2).
      if (infos.length === 0) {
        await vcards.put(owner, withoutPhoto);
        return;
      }
      const info = infos.find((i) => i.attrs.url === undefined);
      if (info === undefined || info.attrs.id === undefined) return;
      const data = await pep.item(owner, NS_AVATAR_DATA, info.attrs.id);
      const base64 = data?.attrs.xmlns === NS_AVATAR_DATA ? data.getText().replace(/\s+/g, '') : undefined;
      if (base64 === undefined || base64 === '') return;
      const sha1 = createHash('sha1').update(Buffer.from(base64, 'base64')).digest('hex');
      if (sha1 !== info.attrs.id.toLowerCase()) {
        ctx.log.info(`avatar-conversion: ${owner.bare}'s avatar data does not match its id ${info.attrs.id}; vCard left alone`);
        return;
      }
      // Already there (the metadata published from the vCard, §3.2): nothing to write.
      if (photoHash(vcard) === sha1) return;
      // §6: the vCard is public. The default (presence) is converted as §3.1 asks, but an avatar its owner
      // narrowed to a whitelist or roster groups stays out, and the earlier photo goes rather than pass for it.
      const access = (await pep.config(owner, NS_AVATAR_DATA))?.accessModel;
      if (access === 'whitelist' || access === 'roster') {
        await vcards.put(owner, withoutPhoto);
        return;
      }
      withoutPhoto.append(x('PHOTO', null, x('TYPE', null, info.attrs.type ?? 'image/png'), x('BINVAL', null, base64)));
      if (!(await vcards.put(owner, withoutPhoto))) ctx.log.info(`avatar-conversion: ${owner.bare}'s avatar is too large for the vCard`);
    }

    ctx.hook('account/deleted', async ({ jid }) => {
      loaded.delete(jid.bare);
      await table.deletePartition(jid.bare);
    });
  },
});
