export type LogLevel = 'info' | 'warn' | 'error';

export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
}

interface LineSink {
  write(line: string): unknown;
}

/** One JSON object per line (time, level, event, fields), for journald and log shippers. */
export function createLogger(sink: LineSink = process.stderr): Logger {
  const emit = (level: LogLevel) => (event: string, fields: LogFields = {}) => {
    sink.write(`${JSON.stringify({ time: new Date().toISOString(), level, event, ...fields })}\n`);
  };
  return { info: emit('info'), warn: emit('warn'), error: emit('error') };
}

/** For callers that want no log output (library use in tests). */
export const silentLogger: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
