/**
 * The network settings a command takes from its user. The clients built from them (an
 * HttpClient and a RegistryClient) are assembled in oci/context.ts, which sits above net/.
 */
export interface NetOptions {
  /** One line per HTTP response (secrets masked by HttpClient); the CLI sets it for --debug. */
  log?: (line: string) => void;
  /** `--ca-file`, repeatable. */
  caFiles?: string[];
  /** `--cert-dir`: a directory of `*.crt` / `<name>.cert` + `<name>.key` for every registry (as skopeo's). */
  certDir?: string;
  /** `--insecure-registry host`, repeatable: plain HTTP allowed for these hosts. */
  plainHttpHosts?: string[];
  /** Where a registry request's retries are said (a command's progress log), each time. */
  onRetry?: (message: string) => void;
}
