// The part of @xmpp/client 0.14 (which ships no types) that the conformance helpers use.
declare module '@xmpp/client' {
  import type { EventEmitter } from 'node:events';
  import type { Element } from 'ltx';

  export interface XmppJid {
    toString(): string;
    bare(): XmppJid;
    local: string;
    domain: string;
    resource: string;
  }

  export interface XmppClient extends EventEmitter {
    jid: XmppJid | null;
    status: string;
    start(): Promise<XmppJid>;
    stop(): Promise<void>;
    send(...elements: Element[]): Promise<void>;
    sendReceive(element: Element, timeout?: number): Promise<Element>;
    iqCaller: {
      request(element: Element, timeout?: number): Promise<Element>;
      get(child: Element, to?: string, timeout?: number): Promise<Element>;
      set(child: Element, to?: string, timeout?: number): Promise<Element>;
    };
    reconnect: { stop(): void };
  }

  export interface ClientOptions {
    service: string;
    domain?: string;
    resource?: string;
    username?: string;
    password?: string;
  }

  export function client(options: ClientOptions): XmppClient;
  export function xml(name: string, attrs?: Record<string, string | number | undefined> | null, ...children: (Element | string)[]): Element;
  export function jid(value: string): XmppJid;
}
