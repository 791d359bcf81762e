import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { mustRun } from './cli.js';

/**
 * A tiny Fulcio-like CA made with openssl: root → intermediate → leaf, the leaf with a SAN
 * (email or URI), the Fulcio OIDC issuer extensions as custom OIDs (v1 raw string, v2 DER
 * UTF8String) and the code-signing EKU, as Fulcio issues them.
 */
export interface TestCa {
  name: string;
  rootFile: string;
  rootPem: string;
  intermediatePem: string;
  intermediateKey: string;
  intermediateFile: string;
}

export interface TestLeaf {
  certPem: string;
  keyFile: string;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

export async function makeCa(dir: string, name: string): Promise<TestCa> {
  const f = (s: string) => path.join(dir, `${name}-${s}`);
  await mustRun('openssl', ['req', '-x509', ...EC, '-keyout', f('root.key'), '-out', f('root.pem'), '-subj', `/O=ferry-test/CN=${name} root`, '-days', '3650', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await mustRun('openssl', ['req', '-new', ...EC, '-keyout', f('int.key'), '-out', f('int.csr'), '-subj', `/O=ferry-test/CN=${name} intermediate`]);
  await writeFile(f('int.ext'), 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
  await mustRun('openssl', ['x509', '-req', '-in', f('int.csr'), '-CA', f('root.pem'), '-CAkey', f('root.key'), '-CAcreateserial', '-days', '3650', '-extfile', f('int.ext'), '-out', f('int.pem')]);
  return { name, rootFile: f('root.pem'), rootPem: await readFile(f('root.pem'), 'utf8'), intermediatePem: await readFile(f('int.pem'), 'utf8'), intermediateKey: f('int.key'), intermediateFile: f('int.pem') };
}

export async function makeLeaf(ca: TestCa, dir: string, name: string, opts: { email?: string; uri?: string; issuer?: string; issuerV1?: string; codeSigning?: boolean }): Promise<TestLeaf> {
  const f = (s: string) => path.join(dir, `${name}-${s}`);
  const ext = ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', 'authorityKeyIdentifier=keyid'];
  if (opts.codeSigning !== false) ext.push('extendedKeyUsage=codeSigning');
  else ext.push('extendedKeyUsage=serverAuth');
  const san = [...(opts.email ? [`email:${opts.email}`] : []), ...(opts.uri ? [`URI:${opts.uri}`] : [])];
  if (san.length) ext.push(`subjectAltName=critical,${san.join(',')}`);
  if (opts.issuerV1) ext.push(`1.3.6.1.4.1.57264.1.1=DER:${Buffer.from(opts.issuerV1).toString('hex').replace(/(..)(?!$)/g, '$1:')}`);
  if (opts.issuer) ext.push(`1.3.6.1.4.1.57264.1.8=ASN1:UTF8String:${opts.issuer}`);
  await writeFile(f('leaf.ext'), ext.join('\n') + '\n');
  await mustRun('openssl', ['req', '-new', ...EC, '-keyout', f('leaf.key'), '-out', f('leaf.csr'), '-subj', '/O=sigstore.dev']);
  await mustRun('openssl', ['x509', '-req', '-in', f('leaf.csr'), '-CA', ca.intermediateFile, '-CAkey', ca.intermediateKey, '-CAcreateserial', '-days', '1', '-extfile', f('leaf.ext'), '-out', f('leaf.pem')]);
  return { certPem: await readFile(f('leaf.pem'), 'utf8'), keyFile: f('leaf.key') };
}

/** ECDSA-SHA256 over the file's bytes with openssl: DER, base64 (cosign's annotation format). */
export async function signWithOpenssl(keyFile: string, file: string): Promise<string> {
  return (await mustRun('sh', ['-c', `openssl dgst -sha256 -sign "${keyFile}" "${file}" | base64 -w0`])).stdout.trim();
}
