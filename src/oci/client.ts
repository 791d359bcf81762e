import type { Readable } from 'node:stream';
import { FerryError } from '../errors.js';
import type { HttpClient } from '../net/http.js';

// Placeholder with the final signatures; the implementation lands shortly (issue 2).
export interface RepoRef {
  registry: string;
  repository: string;
}

export interface CredentialStoreLike {
  lookup(host: string): Promise<unknown>;
}

const todo = (): never => {
  throw new FerryError('INTERNAL', 'RegistryClient: not implemented yet');
};

export class RegistryClient {
  constructor(readonly opts: { http: HttpClient; credentials?: CredentialStoreLike; plainHttp?: (host: string) => boolean }) {}
  async ping(_registry: string): Promise<void> { return todo(); }
  async getManifest(_repo: RepoRef, _reference: string): Promise<{ bytes: Buffer; mediaType: string; digest: string }> { return todo(); }
  async headManifest(_repo: RepoRef, _reference: string): Promise<{ digest: string; mediaType: string; size: number } | undefined> { return todo(); }
  async putManifest(_repo: RepoRef, _reference: string, _bytes: Buffer, _mediaType: string): Promise<string> { return todo(); }
  async blobSize(_repo: RepoRef, _digest: string): Promise<number | undefined> { return todo(); }
  async openBlob(_repo: RepoRef, _digest: string, _offset?: number): Promise<Readable> { return todo(); }
  async mountBlob(_repo: RepoRef, _digest: string, _from: string): Promise<boolean> { return todo(); }
  async pushBlob(_repo: RepoRef, _desc: { digest: string; size: number }, _open: (start: number) => Promise<Readable>, _opts?: { mountFrom?: string[]; chunkSize?: number }): Promise<'exists' | 'mounted' | 'uploaded'> { return todo(); }
  async listTags(_repo: RepoRef): Promise<string[]> { return todo(); }
  async listCatalog(_registry: string): Promise<string[]> { return todo(); }
}
