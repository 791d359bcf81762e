/**
 * Kubernetes' dependent environment variables: in a container's `env[].value`, `command` and
 * `args`, `$(NAME)` is replaced by the variable's value before the process starts
 * (`value: http://$(COLLECTOR_HOST):4318` with `COLLECTOR_HOST: otel-collector` earlier in the list
 * connects to otel-collector). The scan reads what the container is given, so a destination written
 * through a variable is found as the destination, not as a host named `$(collector_host`.
 *
 * The semantics are Kubernetes' own (k8s.io/kubernetes third_party/forked/golang/expansion, as the
 * kubelet applies it): `$$` is one `$`; `$(NAME)` whose NAME is known is its value, else it is kept
 * as written; an env value sees the variables defined before it in the list (each already
 * expanded); `command` and `args` see the whole list. A variable whose value the file does not
 * hold (`valueFrom`, `envFrom`, a Service's `*_SERVICE_HOST`) is unknown: its reference stays as
 * written, never a guess.
 */
import { isMap, isScalar, isSeq, type Scalar, type YAMLMap } from 'yaml';

/** A container in a pod spec, by its key path (`spec.template.spec.containers[0]`). */
export const CONTAINER_PATH = /(?:^|\.)(?:containers|initContainers|ephemeralContainers)\[\d+\]$/;

/** Longest expanded value read (a tree is hostile: expansion can grow a value exponentially). */
export const MAX_EXPANDED = 64 * 1024;

/** `$(NAME)` expanded from `vars`, `$$` as `$` (Kubernetes' expansion.Expand); unknown names kept as written; undefined past MAX_EXPANDED. */
export function expandDependentVars(input: string, vars: ReadonlyMap<string, string>): string | undefined {
  if (!input.includes('$')) return input;
  let out = '';
  let at = 0;
  while (at < input.length) {
    const dollar = input.indexOf('$', at);
    if (dollar < 0 || dollar === input.length - 1) break;
    out += input.slice(at, dollar);
    const next = input[dollar + 1];
    if (next === '$') {
      out += '$';
      at = dollar + 2;
    } else if (next === '(') {
      const close = input.indexOf(')', dollar + 2);
      if (close < 0) {
        // An unclosed `$(` is written out as it is.
        out += input.slice(dollar);
        return out;
      }
      const name = input.slice(dollar + 2, close);
      out += vars.has(name) ? vars.get(name)! : `$(${name})`;
      at = close + 1;
      // Each variable may hold earlier ones many times over (a value of ten `$(A)` where A is ten
      // `$(B)`…): past the bound the value is unknown, as Kubernetes' own bound would not say.
      if (out.length > MAX_EXPANDED) return undefined;
    } else {
      out += '$';
      at = dollar + 1;
    }
  }
  return out + input.slice(at);
}

/**
 * The expanded value of each scalar of this container (`env[].value`, `command[]`, `args[]`) that
 * expansion changes. Variables the file gives a literal `value` are known; one given `valueFrom`
 * (or defined twice, the last by `valueFrom`) is not.
 */
export function containerExpansions(container: YAMLMap): Map<Scalar, string> {
  const out = new Map<Scalar, string>();
  const vars = new Map<string, string>();
  const env = container.get('env', true);
  if (isSeq(env)) {
    for (const item of env.items) {
      if (!isMap(item)) continue;
      const name = item.get('name');
      if (typeof name !== 'string') continue;
      const value = item.get('value', true);
      if (isScalar(value) && value.value !== null && value.value !== undefined) {
        const raw = String(value.value);
        const expanded = expandDependentVars(raw, vars);
        if (expanded === undefined) {
          vars.delete(name);
          continue;
        }
        if (expanded !== raw) out.set(value, expanded);
        vars.set(name, expanded);
      } else if (item.has('valueFrom')) vars.delete(name);
      else vars.set(name, '');
    }
  }
  for (const key of ['command', 'args']) {
    const list = container.get(key, true);
    if (!isSeq(list)) continue;
    for (const item of list.items) {
      if (!isScalar(item) || typeof item.value !== 'string') continue;
      const expanded = expandDependentVars(item.value, vars);
      if (expanded !== undefined && expanded !== item.value) out.set(item, expanded);
    }
  }
  return out;
}
