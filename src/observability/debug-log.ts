/**
 * The text of the debug log (`WIRELINE_DEBUG=1`): one line per diagnostics
 * event, written so that a client that does not connect says why. The
 * adapters subscribe and print; this file only words the events.
 *
 * @module
 */

import { formatAddress, type SocketAddress } from "../address.ts";
import type { DiagnosticsChannelName, DiagnosticsMessages } from "./diagnostics.ts";
import type { NetError } from "../errors.ts";

const ms = (value: number): string => `${Math.round(value)} ms`;
const peer = (address: SocketAddress | undefined): string => (address === undefined ? "an unnamed peer" : address.transport === "unix" ? address.path || "a unix peer" : formatAddress(address));
const server = (name: string): string => (name === "" ? "the server" : `server ${name}`);
/** The message without its leading "CODE: ", which each line names already. */
const detail = (error: NetError): string => (error.message.startsWith(`${error.code}: `) ? error.message.slice(error.code.length + 2) : error.message);

type Describers = { readonly [K in DiagnosticsChannelName]: (message: DiagnosticsMessages[K]) => string };

const DESCRIBERS: Describers = {
  "wireline:connect:start": (m) => `connect #${m.id} to ${m.address} (${m.transport})`,
  "wireline:connect:end": (m) => `connect #${m.id} to ${m.address} open in ${ms(m.duration)}${m.tls ? " (TLS)" : ""}, local ${peer(m.localAddress)}`,
  "wireline:connect:error": (m) => `connect #${m.id} to ${m.address} failed with ${m.error.code} after ${ms(m.duration)}: ${detail(m.error)}`,
  "wireline:tls:handshake": (m) =>
    m.error
      ? `TLS handshake (${m.side}) with ${m.address || "a peer"} failed with ${m.error.code} after ${ms(m.duration)}: ${detail(m.error)}`
      : `TLS handshake (${m.side}) with ${m.address || "a peer"} done in ${ms(m.duration)}${m.tlsVersion ? `, ${m.tlsVersion}` : ""}${m.alpnProtocol ? `, ALPN ${m.alpnProtocol}` : ""}`,
  "wireline:server:accept": (m) => `${server(m.server)} accepted ${peer(m.remoteAddress)}`,
  "wireline:server:refuse": (m) => `${server(m.server)} refused ${peer(m.remoteAddress)} (${m.reason})`,
  "wireline:server:filter": (m) => `${server(m.server)} filtered out ${peer(m.remoteAddress)}${m.error ? ` (${m.error.code}: ${detail(m.error)})` : ""}`,
  "wireline:reconnect:attempt": (m) => `client ${m.target}: attempt ${m.attempt} to ${m.endpoint}`,
  "wireline:reconnect:backoff": (m) =>
    `client ${m.target}: attempt ${m.attempt} to ${m.endpoint ?? m.target} failed with ${m.error.code}, next attempt in ${ms(m.delay)}: ${detail(m.error)}`,
  "wireline:reconnect:open": (m) => `client ${m.target}: connected to ${m.endpoint} (connection ${m.connects})`,
  "wireline:reconnect:stale": (m) => `client ${m.target}: connection to ${m.endpoint} is stale (${m.reason}, ${ms(m.silentFor)}), replacing it`,
  "wireline:queue:drop": (m) => `client ${m.target}: dropped ${m.count} write(s), ${m.bytes} bytes, ${m.resolved ? "after they resolved " : ""}because ${m.reason.code}: ${detail(m.reason)}`,
  "wireline:request:timeout": (m) => `request got no reply within ${ms(m.timeout)}${m.sent ? "" : " (it was never sent)"}`,
};

/**
 * One debug-log line for a message of channel `name`.
 *
 * @example
 * ```ts
 * import { describeDiagnostic } from "./debug-log.ts";
 * describeDiagnostic("wireline:request:timeout", { timeout: 500, sent: true });
 * // "wireline: request got no reply within 500 ms"
 * ```
 */
export function describeDiagnostic<K extends DiagnosticsChannelName>(name: K, message: DiagnosticsMessages[K]): string {
  const describe = DESCRIBERS[name] as (message: DiagnosticsMessages[K]) => string;
  return `wireline: ${describe(message)}`;
}
