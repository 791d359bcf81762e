/**
 * The parts of undici ferry uses, loaded on the first request: the proxy-aware agent, the
 * connector and the dispatcher API (`request`; `connect` for proxy tunnels), attached to the
 * dispatcher prototype exactly as undici's index does. The index also builds the mock, cache,
 * fetch and WebSocket layers and a dozen dispatchers ferry never uses: loading them cost ~17 ms
 * of CPU on every command that sends a request (measured in the built program, compile cache
 * warm: 38-47 ms against 22 ms).
 */
import type * as Undici from 'undici';
// @ts-expect-error undici ships no types for its lib/ files; their types are undici's own, below.
import EnvHttpProxyAgentImpl from 'undici/lib/dispatcher/env-http-proxy-agent.js';
// @ts-expect-error as above
import buildConnectorImpl from 'undici/lib/core/connect.js';
// @ts-expect-error as above
import DispatcherImpl from 'undici/lib/dispatcher/dispatcher.js';
// @ts-expect-error as above
import api from 'undici/lib/api/index.js';
// @ts-expect-error as above
import symbols from 'undici/lib/core/symbols.js';

Object.assign((DispatcherImpl as typeof Undici.Dispatcher).prototype, api);

export const EnvHttpProxyAgent = EnvHttpProxyAgentImpl as typeof Undici.EnvHttpProxyAgent;
export const buildConnector = buildConnectorImpl as typeof Undici.buildConnector;

/** undici's internal keys: a dispatcher's dispatch method, and EnvHttpProxyAgent's direct agent. */
export const undiciKeys = symbols as { kDispatch: symbol; kNoProxyAgent: symbol };
