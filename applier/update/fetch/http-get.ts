import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { PrtiqlError } from '../../../shared/errors.js';
import type { ProxyAgents } from '../../../shared/proxy-agents.js';
import { deadlinePassed } from './retry.js';
import type { HttpTimeouts } from './source.js';

export interface HttpGetOptions {
  timeouts: HttpTimeouts;
  /** Epoch ms by which the whole download must be done. */
  deadline: number;
  /** Agents that go through the proxies the environment names; none: direct connections. */
  proxies: ProxyAgents | undefined;
}

export function networkError(url: string, error: unknown): PrtiqlError {
  if (error instanceof PrtiqlError) return error;
  const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
  return new PrtiqlError('E_NETWORK', `cannot fetch ${url}: ${reason}`);
}

/**
 * Sends one GET and resolves with its response (any status; redirects are not followed).
 * The connection and the wait for the response are timed, and capped by the deadline.
 * `url` names the resource in messages (it may lack a signed query the target has).
 */
export function httpGet(target: URL, headers: Record<string, string>, options: HttpGetOptions, url = target.href): Promise<IncomingMessage> {
  const { timeouts, deadline, proxies } = options;
  const https = target.protocol === 'https:';
  const agent = proxies ? (https ? proxies.httpsAgent : proxies.httpAgent) : false;
  return new Promise<IncomingMessage>((resolve, reject) => {
    const request: ClientRequest = (https ? httpsRequest : httpRequest)(target, { headers, agent });
    let timer: NodeJS.Timeout | undefined;
    const fail = (error: PrtiqlError) => request.destroy(error);
    const phase = (what: string, ms: number) => {
      clearTimeout(timer);
      const left = deadline - Date.now();
      timer = left < ms ? setTimeout(() => fail(deadlinePassed(deadline)), Math.max(0, left)) : setTimeout(() => fail(new PrtiqlError('E_NETWORK', `${url}: no ${what} within ${ms} ms`)), ms);
    };
    phase('connection', timeouts.connectMs);
    request.once('socket', (socket) => {
      if (!socket.connecting) phase('response', timeouts.responseMs);
      else socket.once(https && !proxies ? 'secureConnect' : 'connect', () => phase('response', timeouts.responseMs));
    });
    request.once('response', (response) => {
      clearTimeout(timer);
      resolve(response);
    });
    request.once('error', (error) => {
      clearTimeout(timer);
      reject(networkError(url, error));
    });
    request.end();
  });
}
