import { SERVE_ROUTE_PROVIDERS } from '../kinds/index.js';
import type { ServeRoute, ServeRouteContext } from '../kinds/serve-route.js';

/**
 * Every kind's plain-HTTP trees for what is served (files, apt, charts): the providers come from
 * the kinds' `serveRoutes`; what a provider cannot serve lands in `ctx.warnings`.
 */
export async function kindRoutes(ctx: ServeRouteContext): Promise<ServeRoute[]> {
  const routes: ServeRoute[] = [];
  for (const provide of SERVE_ROUTE_PROVIDERS) routes.push(...(await provide(ctx)));
  return routes;
}
