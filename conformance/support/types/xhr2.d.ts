// The part of xhr2 0.2 (which ships no types) that the Strophe helper uses: an XMLHttpRequest for Node.
declare module 'xhr2' {
  export default class XMLHttpRequest {
    readonly responseText: string;
  }
}
