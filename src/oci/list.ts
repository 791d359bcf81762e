import { FerryError } from '../errors.js';
import { readCapped } from '../net/http.js';
import { pullContext, repoLabel, type RegistryTransport, type RepoRef, type SendContext } from './transport.js';

/** Paginated listings: a repository's tags and the registry's catalog. */

/** The `next` URL of a Link header (RFC 5988), resolved against the request URL. */
export function nextLink(link: string | string[] | undefined, base: string): string | undefined {
  const values = Array.isArray(link) ? link : link ? [link] : [];
  for (const v of values) {
    for (const part of v.split(/,(?=\s*<)/)) {
      const m = linkTarget(part.trim());
      if (m && /rel="?next"?/i.test(m.params)) return new URL(m.url, base).toString();
    }
  }
  return undefined;
}

const LINE_BREAK = /[\n\r\u2028\u2029]/;

/**
 * `<url>` and the parameters after it in one Link value: what `/<([^>]*)>\s*(.*)$/` matches (the
 * first `<…>` whose rest, past spaces, holds no line break), by a scan; that regex backtracks
 * cubically on a crafted header of `<` and spaces.
 */
export function linkTarget(part: string): { url: string; params: string } | undefined {
  let lastBreak = -1;
  for (let i = part.length - 1; i >= 0; i--) {
    if (LINE_BREAK.test(part[i])) {
      lastBreak = i;
      break;
    }
  }
  for (let lt = part.indexOf('<'); lt >= 0; ) {
    const gt = part.indexOf('>', lt + 1);
    if (gt < 0) return undefined;
    let rest = gt + 1;
    while (rest < part.length && /\s/.test(part[rest])) rest++;
    if (lastBreak < rest) return { url: part.slice(lt + 1, gt), params: part.slice(rest) };
    // every `<` before this `>` ends at the same `>`: try the next one after it
    lt = part.indexOf('<', gt + 1);
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
  // The page whose Link named `next`: the registry's word, so the next page may not lead to this
  // machine or a link-local address unless the registry is there itself (net/http.ts namedBy).
  let namedBy: string | undefined;
  const visited = new Set<string>();
  for (let page = 0; next && page < MAX_PAGES; page++) {
    const target: string = next;
    const { list, link, url } = await t.retry(what, async () => {
      const res = await t.send(ctx, 'GET', target, namedBy ? { namedBy } : {});
      if (res.status !== 200) await t.fail(res, what, ctx);
      const bytes = await readCapped(res.body, MAX_PAGE_BYTES, `${what}: a page of more than ${MAX_PAGE_BYTES} bytes; refusing it`);
      let body: Record<string, unknown> | null;
      try {
        body = JSON.parse(bytes.toString('utf8')) as Record<string, unknown> | null;
      } catch (err) {
        throw new FerryError('VERIFY', `${what}: the registry's answer is not valid JSON (${(err as Error).message.slice(0, 120)})`);
      }
      const list = body?.[field] ?? [];
      if (!Array.isArray(list) || !list.every((v) => typeof v === 'string')) throw new FerryError('VERIFY', `${what}: "${field}" in the registry's answer is not a list of names`);
      // Resolved once answered: the registry's scheme is known then (a loopback one may be plain HTTP).
      const url = /^https?:/.test(target) ? target : t.baseUrl(ctx.registry) + target;
      return { list: list as string[], link: nextLink(res.headers.link, url), url };
    });
    if (items.length + list.length > MAX_LIST_ITEMS) {
      throw new FerryError('VERIFY', `${what}: more than ${MAX_LIST_ITEMS} entries; refusing to list them all`, { hint: 'No repository ferry reads from has this many; the registry answered something crafted or broken.' });
    }
    for (const item of list) items.push(item);
    if (link && visited.has(link)) throw new FerryError('VERIFY', `${what}: the registry's next page link ${JSON.stringify(link.slice(0, 200))} points back at a page already read (a loop)`);
    if (link) visited.add(link);
    namedBy = url;
    next = link;
  }
  if (next) throw new FerryError('VERIFY', `${what}: more than ${MAX_PAGES} pages; refusing to read on`, { hint: 'No repository ferry reads from has this many; the registry answered something crafted or broken.' });
  return items;
}

/** One page of a listing, and the whole listing: far above real repositories, bounded for crafted answers. */
const MAX_PAGE_BYTES = 16 * 1024 * 1024;
const MAX_LIST_ITEMS = 1_000_000;
const MAX_PAGES = 10_000;
