import { request, type Dispatcher } from 'undici';
import { PrtiqlError } from '../../../../shared/errors.js';

export const USER_AGENT = 'prtiql';

export type RequestOptions = Omit<Dispatcher.RequestOptions, 'origin' | 'path'>;

function reason(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const message = error instanceof Error ? error.message : String(error);
  return cause?.message && cause.message !== message ? `${message} (${cause.message})` : message;
}

/**
 * One HTTP exchange with undici. Failures to connect or transfer become E_NETWORK naming the
 * server, with a hint when TLS met a plain-HTTP server; typed errors (e.g. from a verifying
 * request body) pass through unchanged.
 */
export async function send(url: URL, options: RequestOptions): Promise<Dispatcher.ResponseData> {
  try {
    return await request(url, { ...options, headers: { 'user-agent': USER_AGENT, ...(options.headers as Record<string, string>) } });
  } catch (error) {
    if (error instanceof PrtiqlError) throw error;
    const text = reason(error);
    const hint = url.protocol === 'https:' && /wrong version number|EPROTO|packet length too long/i.test(text) ? ' (the server may speak plain HTTP: try --insecure)' : '';
    throw new PrtiqlError('E_NETWORK', `cannot reach ${url.origin}: ${text}${hint}`, { cause: error });
  }
}
