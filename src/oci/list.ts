import { pullContext, repoLabel, type RegistryTransport, type RepoRef, type SendContext } from './transport.js';

/** Paginated listings: a repository's tags and the registry's catalog. */

/** The `next` URL of a Link header (RFC 5988), resolved against the request URL. */
export function nextLink(link: string | string[] | undefined, base: string): string | undefined {
  const values = Array.isArray(link) ? link : link ? [link] : [];
  for (const v of values) {
    for (const part of v.split(/,(?=\s*<)/)) {
      const m = /<([^>]*)>\s*(.*)$/.exec(part.trim());
      if (m && /rel="?next"?/i.test(m[2])) return new URL(m[1], base).toString();
    }
  }
  return undefined;
}

/** Every tag, following `Link: <…>; rel="next"` pages. */
export function listTags(t: RegistryTransport, repo: RepoRef, opts: { pageSize?: number } = {}): Promise<string[]> {
  return listPaged(t, pullContext(repo), `${repoLabel(repo)} tags`, `/v2/${repo.repository}/tags/list`, 'tags', opts.pageSize);
}

/** Every repository in the registry's catalog (where the registry allows listing it). */
export function listCatalog(t: RegistryTransport, registry: string, opts: { pageSize?: number } = {}): Promise<string[]> {
  const ctx: SendContext = { registry, scopes: ['registry:catalog:*'] };
  return listPaged(t, ctx, `${registry} catalog`, '/v2/_catalog', 'repositories', opts.pageSize);
}

/** A paginated list endpoint: follows `Link: <…>; rel="next"`, each page retried on its own. */
async function listPaged(t: RegistryTransport, ctx: SendContext, what: string, first: string, field: 'tags' | 'repositories', pageSize?: number): Promise<string[]> {
  const items: string[] = [];
  let next: string | undefined = `${first}${pageSize ? `?n=${pageSize}` : ''}`;
  for (let page = 0; next && page < 10_000; page++) {
    const target: string = next;
    const { list, link } = await t.retry(what, async () => {
      const res = await t.send(ctx, 'GET', target);
      if (res.status !== 200) await t.fail(res, what, ctx);
      const chunks: Buffer[] = [];
      for await (const c of res.body) chunks.push(c as Buffer);
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, string[] | null | undefined>;
      const url = /^https?:/.test(target) ? target : t.baseUrl(ctx.registry) + target;
      return { list: body[field] ?? [], link: nextLink(res.headers.link, url) };
    });
    items.push(...list);
    next = link;
  }
  return items;
}
