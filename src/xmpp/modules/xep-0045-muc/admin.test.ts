import { expect } from 'chai';
import { x } from '../../../util/xml.js';
import { StanzaError } from '../../errors.js';
import { parseXml } from '../../stream/parse-xml.js';
import { adminList, planAdminChanges } from './admin.js';
import { defaultConfig } from './config.js';
import { Room, type Occupant } from './room.js';

function roomWith(): { room: Room; owner: Occupant; guest: Occupant } {
  const room = new Room('talk@conference.example.org', defaultConfig({ persistent: false, public: true, historyLength: 20, maxHistoryLength: 50, archiving: false }));
  room.setAffiliation('olga@example.org', 'owner');
  room.setAffiliation('mia@example.org', 'member');
  const owner: Occupant = { nick: 'olga', bare: 'olga@example.org', sessions: new Map(), presence: x('presence'), role: 'moderator' };
  const guest: Occupant = { nick: 'gus', bare: 'gus@example.org', sessions: new Map(), presence: x('presence'), role: 'participant' };
  room.addSession(owner, 'olga@example.org/phone', x('presence'));
  room.addSession(guest, 'gus@example.org/laptop', x('presence'));
  return { room, owner, guest };
}

const admin = (items: string): ReturnType<typeof parseXml> => parseXml(`<query xmlns='http://jabber.org/protocol/muc#admin'>${items}</query>`);

function failure(fn: () => unknown): StanzaError {
  try {
    fn();
  } catch (e) {
    if (e instanceof StanzaError) return e;
    throw e;
  }
  throw new Error('expected a StanzaError');
}

describe('muc#admin (XEP-0045 §8, §9)', () => {
  it('plans a batch only when every item may be done: one forbidden item fails the whole set', () => {
    const { room, owner } = roomWith();
    const ok = planAdminChanges(room, 'owner', owner, admin(`<item nick='gus' role='visitor'/><item jid='mia@example.org' affiliation='admin'/>`));
    expect(ok.map((c) => c.kind)).to.deep.equal(['role', 'aff']);
    const err = failure(() => planAdminChanges(room, 'owner', owner, admin(`<item jid='mia@example.org' affiliation='admin'/><item nick='nobody' role='visitor'/>`)));
    expect(err.condition).to.equal('item-not-found');
    expect(room.affiliation('mia@example.org'), 'nothing applied by planning').to.equal('member');
  });

  it('keeps at least one owner and lets only owners touch admins and owners', () => {
    const { room, owner } = roomWith();
    expect(failure(() => planAdminChanges(room, 'owner', owner, admin(`<item jid='olga@example.org' affiliation='none'/>`))).condition).to.equal('conflict');
    room.setAffiliation('ada@example.org', 'admin');
    expect(failure(() => planAdminChanges(room, 'admin', undefined, admin(`<item jid='mia@example.org' affiliation='owner'/>`))).condition).to.equal('not-allowed');
    expect(failure(() => planAdminChanges(room, 'member', undefined, admin(`<item jid='gus@example.org' affiliation='member'/>`))).condition).to.equal('forbidden');
  });

  it('lists affiliations to admins and roles to moderators only', () => {
    const { room, owner, guest } = roomWith();
    const members = adminList(room, 'owner', owner, admin(`<item affiliation='member'/>`));
    expect(members.getChildren('item').map((i) => i.attrs.jid)).to.deep.equal(['mia@example.org']);
    const moderators = adminList(room, 'owner', owner, admin(`<item role='moderator'/>`));
    expect(moderators.getChildren('item').map((i) => i.attrs.nick)).to.deep.equal(['olga']);
    expect(failure(() => adminList(room, 'none', guest, admin(`<item role='participant'/>`))).condition).to.equal('forbidden');
    expect(failure(() => adminList(room, 'none', guest, admin(`<item affiliation='owner'/>`))).condition).to.equal('forbidden');
  });
});
