import type { ModuleDefinition } from '../module.js';
import ping from './xep-0199-ping/index.js';
import roster from './rfc6121-roster/index.js';
import presence from './rfc6121-presence/index.js';
import register from './xep-0077-register/index.js';
import adhoc from './xep-0050-adhoc/index.js';
import admin from './xep-0133-admin/index.js';
import mam from './xep-0313-mam/index.js';
import sm from './xep-0198-sm/index.js';
import csi from './xep-0352-csi/index.js';
import disco from './xep-0030-disco/index.js';
import caps from './xep-0115-caps/index.js';
import version from './xep-0092-version/index.js';
import time from './xep-0202-time/index.js';
import vcard from './xep-0054-vcard/index.js';
import privateXml from './xep-0049-private/index.js';
import blocking from './xep-0191-blocking/index.js';
import offline from './xep-0160-offline/index.js';
import pep from './xep-0163-pep/index.js';
import carbons from './xep-0280-carbons/index.js';
import markers from './xep-0333-markers/index.js';
import push from './xep-0357-push/index.js';
import upload from './xep-0363-upload/index.js';
import muc from './xep-0045-muc/index.js';
import externalServices from './xep-0215-external-services/index.js';
import contactAddresses from './xep-0157-contact-addresses/index.js';
import serviceOutage from './xep-0455-service-outage/index.js';
import components from './xep-0114-components/index.js';
import avatarConversion from './xep-0398-avatar-conversion/index.js';
import bookmarks from './xep-0402-bookmarks/index.js';
import mds from './xep-0490-mds/index.js';
import last from './xep-0012-last/index.js';
import occupantId from './xep-0421-occupant-id/index.js';
import moderation from './xep-0425-moderation/index.js';
import retraction from './xep-0424-retraction/index.js';
import mucRetraction from './xep-0424-retraction/muc.js';
import offlineRetraction from './xep-0424-retraction/offline.js';
import monitoring from './monitoring/index.js';
import adminApi from './admin-api/index.js';
import hostMeta from './xep-0156-host-meta/index.js';
import proxy65 from './xep-0065-proxy/index.js';
import spamReporting from './xep-0377-spam-reporting/index.js';
import pubsub from './xep-0060-pubsub/index.js';
import blockStrangers from './block-strangers/index.js';

/**
 * Every module sori ships, for the composition root. Order does not matter:
 * the loader orders them by their declared dependencies.
 */
export const ALL_MODULES: ModuleDefinition[] = [roster, presence, ping, register, adhoc, admin, mam, sm, csi, disco, caps, version, time, vcard, privateXml, blocking, offline, pep, carbons, markers, push, upload, muc, externalServices, contactAddresses, serviceOutage, components, avatarConversion, bookmarks, mds, occupantId, moderation, retraction, mucRetraction, offlineRetraction, last, monitoring, hostMeta, adminApi, proxy65, spamReporting, pubsub, blockStrangers];
