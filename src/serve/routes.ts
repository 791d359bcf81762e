import { aptServeRoutes } from '../kinds/apt/serve.js';
import { fileServeRoutes } from '../kinds/file/serve.js';
import type { ServeRoute, ServeRouteContext, ServeRouteProvider } from '../kinds/serve-route.js';

/**
 * Plain-HTTP trees other kinds serve beside the registry (files, apt, charts): one line each.
 * A provider looks at the bundle/layout and returns the routes it needs (or none).
 */
export const SERVE_ROUTE_PROVIDERS: ServeRouteProvider[] = [fileServeRoutes, aptServeRoutes];

/** Every kind's routes for what is served; what a provider cannot serve lands in `ctx.warnings`. */
export async function kindRoutes(ctx: ServeRouteContext): Promise<ServeRoute[]> {
  const routes: ServeRoute[] = [];
  for (const provide of SERVE_ROUTE_PROVIDERS) routes.push(...(await provide(ctx)));
  return routes;
}
