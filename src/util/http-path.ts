/** How sori's HTTP listeners match request paths to the routes modules register (ModuleContext.httpRoute). */

/** The path of a request URL, without its query. */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/**
 * Whether an HTTP route serves `path`: a route ending in '/' serves
 * everything under it (uploads); any other serves its own path only, with
 * or without a trailing '/' (`/metrics`, not `/metrics.json`).
 */
export function servesPath(route: string, path: string): boolean {
  if (route.endsWith('/')) return path.startsWith(route);
  return path === route || path === `${route}/`;
}
