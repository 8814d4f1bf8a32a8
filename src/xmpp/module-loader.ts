import type { ServerResponse } from 'node:http';
import { Table, type TableSpec, type WideColumnStore } from '../storage/wide-column.js';
import { pathOf, servesPath } from '../util/http-path.js';
import { resolveOptions, type OptionSpecs } from '../util/options.js';
import type { Logger } from '../util/log.js';
import type { XmlElement } from '../util/xml.js';
import type { EventName, HookHandler } from './events.js';
import type { Hooks } from './hooks.js';
import type {
  Bind2FeatureHandler,
  FeatureStage,
  HttpRouteHandler,
  Identity,
  IqScope,
  ModuleContext,
  ModuleDefinition,
  PreAuthIqHandler,
  PreBindElementHandler,
  ServerApi,
  StreamContext,
  StreamElementHandler,
} from './module.js';
import type { IqDispatcher } from './router/iq-dispatch.js';
import type { OutgoingFilter } from './session.js';

interface Undo {
  (): void | Promise<void>;
}

/** What modules register that streams and disco read back. */
export class Registrations {
  readonly hostFeatures = new Set<string>();
  readonly accountFeatures = new Set<string>();
  readonly identities: Identity[] = [];
  readonly infoExtensions: XmlElement[] = [];
  readonly streamFeatures: { stage: FeatureStage; build: (s: StreamContext) => XmlElement | null }[] = [];
  /**
   * Children of the post-authentication `<limits/>` (XEP-0478) that modules add. Replaced, never changed in
   * place, so that the element built from it can be cached by its identity.
   */
  streamLimits: ReadonlyMap<string, number> = new Map();
  readonly streamElements = new Map<string, StreamElementHandler>();
  readonly preBindElements = new Map<string, PreBindElementHandler>();
  readonly sasl2Inline: XmlElement[] = [];
  readonly bind2Features = new Map<string, Bind2FeatureHandler>();
  readonly preAuthIqs = new Map<string, PreAuthIqHandler>();
  readonly httpRoutes = new Map<string, HttpRouteHandler>();

  /** The module route that serves `url` (see `servesPath`), if any. */
  httpRouteFor(url: string): HttpRouteHandler | undefined {
    const path = pathOf(url);
    for (const [route, handler] of this.httpRoutes) if (servesPath(route, path)) return handler;
    return undefined;
  }

  /** Route handlers that send 100 Continue themselves (httpRoute's `decidesContinue`). */
  readonly continueDeciders = new Set<HttpRouteHandler>();

  /** For a request with `Expect: 100-continue` to `url`: sends 100 Continue now, unless the route serving it decides. */
  continueUnlessDecided(url: string, res: ServerResponse): void {
    const handler = this.httpRouteFor(url);
    if (handler === undefined || !this.continueDeciders.has(handler)) res.writeContinue();
  }
  /** Compiled when modules load so the write path only loops an array. */
  outgoingFilters: OutgoingFilter[] = [];
  private readonly filterEntries: { filter: OutgoingFilter; priority: number }[] = [];

  addFilter(filter: OutgoingFilter, priority: number): () => void {
    const entry = { filter, priority };
    this.filterEntries.push(entry);
    this.compileFilters();
    return () => {
      this.filterEntries.splice(this.filterEntries.indexOf(entry), 1);
      this.compileFilters();
    };
  }

  private compileFilters(): void {
    this.outgoingFilters = [...this.filterEntries].sort((a, b) => b.priority - a.priority).map((e) => e.filter);
  }
}

interface LoadedModule {
  def: ModuleDefinition<OptionSpecs>;
  undo: Undo[];
  api: object | null;
}

/**
 * Starts modules in dependency order, giving each a context that records
 * every registration so that stopping a module undoes exactly what it did.
 */
export class ModuleLoader {
  private readonly loaded = new Map<string, LoadedModule>();

  constructor(
    private readonly deps: {
      server: ServerApi;
      hooks: Hooks;
      iq: IqDispatcher;
      registrations: Registrations;
      store: WideColumnStore;
      log: Logger;
    },
  ) {}

  /** Orders definitions so every module comes after what it depends on (and the optional dependencies that are loaded); throws on missing or cyclic deps. */
  static order(defs: readonly ModuleDefinition<OptionSpecs>[]): ModuleDefinition<OptionSpecs>[] {
    const byName = new Map(defs.map((d) => [d.name, d]));
    const out: ModuleDefinition<OptionSpecs>[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (d: ModuleDefinition<OptionSpecs>, chain: string[]): void => {
      const s = state.get(d.name);
      if (s === 'done') return;
      if (s === 'visiting') throw new Error(`module dependency cycle: ${[...chain, d.name].join(' -> ')}`);
      state.set(d.name, 'visiting');
      for (const dep of d.depends ?? []) {
        const dd = byName.get(dep);
        if (dd === undefined) throw new Error(`module ${d.name} depends on ${dep}, which is not loaded`);
        visit(dd, [...chain, d.name]);
      }
      for (const dep of d.optionalDepends ?? []) {
        const dd = byName.get(dep);
        if (dd !== undefined) visit(dd, [...chain, d.name]);
      }
      state.set(d.name, 'done');
      out.push(d);
    };
    for (const d of defs) visit(d, []);
    return out;
  }

  /** Every table the modules declare, for `ensureTables` and `ctl storage init`. */
  static tables(defs: readonly ModuleDefinition<OptionSpecs>[]): TableSpec[] {
    return defs.flatMap((d) => d.tables ?? []);
  }

  async start(defs: readonly ModuleDefinition<OptionSpecs>[], moduleOptions: Record<string, unknown>): Promise<void> {
    for (const def of ModuleLoader.order(defs)) {
      const opts = resolveOptions(def.options ?? {}, moduleOptions[def.name] as Record<string, unknown> | undefined, `modules.options.${def.name}`);
      await this.startOne(def, opts);
    }
  }

  private async startOne(def: ModuleDefinition<OptionSpecs>, options: Record<string, unknown>): Promise<void> {
    const { server, hooks, iq, registrations: reg, store } = this.deps;
    const undo: Undo[] = [];
    const entry: LoadedModule = { def, undo, api: null };
    const declared = new Set((def.tables ?? []).map((t) => t.name));
    const log = this.deps.log.child(def.name);
    const ctx: ModuleContext<OptionSpecs> = {
      name: def.name,
      options: options as ModuleContext<OptionSpecs>['options'],
      log,
      server,
      feature(ns, scope = 'host') {
        if (scope !== 'account') reg.hostFeatures.add(ns);
        if (scope !== 'host') reg.accountFeatures.add(ns);
        undo.push(() => {
          reg.hostFeatures.delete(ns);
          reg.accountFeatures.delete(ns);
        });
      },
      identity(identity) {
        reg.identities.push(identity);
        undo.push(() => void reg.identities.splice(reg.identities.indexOf(identity), 1));
      },
      infoExtension(form) {
        reg.infoExtensions.push(form);
        undo.push(() => void reg.infoExtensions.splice(reg.infoExtensions.indexOf(form), 1));
      },
      iq(type, ns, element, handler, scope: IqScope = 'host') {
        undo.push(iq.register(type, ns, element, handler, scope));
      },
      hook<E extends EventName>(event: E, handler: HookHandler<E>, priority = 0) {
        undo.push(hooks.add(event, handler, priority));
      },
      streamFeature(stage, build) {
        const f = { stage, build };
        reg.streamFeatures.push(f);
        undo.push(() => void reg.streamFeatures.splice(reg.streamFeatures.indexOf(f), 1));
      },
      streamLimit(name, value) {
        reg.streamLimits = new Map(reg.streamLimits).set(name, value);
        undo.push(() => {
          const rest = new Map(reg.streamLimits);
          rest.delete(name);
          reg.streamLimits = rest;
        });
      },
      streamElement(ns, handler) {
        reg.streamElements.set(ns, handler);
        undo.push(() => void reg.streamElements.delete(ns));
      },
      preBindElement(ns, handler) {
        reg.preBindElements.set(ns, handler);
        undo.push(() => void reg.preBindElements.delete(ns));
      },
      sasl2Inline(feature) {
        reg.sasl2Inline.push(feature);
        undo.push(() => void reg.sasl2Inline.splice(reg.sasl2Inline.indexOf(feature), 1));
      },
      bind2Feature(ns, handler) {
        reg.bind2Features.set(ns, handler);
        undo.push(() => void reg.bind2Features.delete(ns));
      },
      httpRoute(prefix, handler, opts = {}) {
        reg.httpRoutes.set(prefix, handler);
        if (opts.decidesContinue === true) reg.continueDeciders.add(handler);
        undo.push(() => {
          reg.httpRoutes.delete(prefix);
          reg.continueDeciders.delete(handler);
        });
      },
      preAuthIq(ns, handler) {
        reg.preAuthIqs.set(ns, handler);
        undo.push(() => void reg.preAuthIqs.delete(ns));
      },
      outgoingFilter(filter, priority = 0) {
        undo.push(reg.addFilter(filter, priority));
      },
      table(name) {
        if (!declared.has(name)) throw new Error(`module ${def.name} opens table '${name}' it did not declare`);
        return new Table(store, name);
      },
      every(ms, fn) {
        const t = setInterval(() => {
          Promise.resolve()
            .then(fn)
            .catch((e: unknown) => log.error('timer failed', e));
        }, ms);
        t.unref();
        undo.push(() => clearInterval(t));
      },
      provide(api) {
        entry.api = api;
      },
      use: <T extends object>(moduleName: string): T => {
        if (!(def.depends ?? []).includes(moduleName)) throw new Error(`module ${def.name} uses ${moduleName} without declaring it in depends`);
        const dep = this.loaded.get(moduleName);
        if (dep?.api == null) throw new Error(`module ${moduleName} provides no API`);
        return dep.api as T;
      },
      useIfLoaded: <T extends object>(moduleName: string): T | null => {
        if (!(def.optionalDepends ?? []).includes(moduleName)) throw new Error(`module ${def.name} uses ${moduleName} without declaring it in optionalDepends`);
        const dep = this.loaded.get(moduleName);
        if (dep === undefined) return null;
        if (dep.api === null) throw new Error(`module ${moduleName} provides no API`);
        return dep.api as T;
      },
      onStop(fn) {
        undo.push(fn);
      },
    };
    await def.start(ctx);
    this.loaded.set(def.name, entry);
  }

  async stopAll(): Promise<void> {
    for (const m of [...this.loaded.values()].reverse()) {
      for (const u of m.undo.reverse()) {
        try {
          await u();
        } catch (e) {
          this.deps.log.error(`stopping ${m.def.name}`, e);
        }
      }
    }
    this.loaded.clear();
  }

  names(): string[] {
    return [...this.loaded.keys()];
  }
}
