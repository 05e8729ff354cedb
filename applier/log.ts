/** Most severe first: a level shows itself and everything before it. */
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** `json`: one JSON object per line, for journald and log shippers. `text`: one line for a person. */
export const LOG_FORMATS = ['json', 'text'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
}

interface LineSink {
  write(line: string): unknown;
  isTTY?: boolean;
}

export interface LogSettings {
  level: LogLevel;
  /** Unset: text on a terminal, JSON anywhere else. */
  format?: LogFormat;
}

let processSettings: LogSettings = { level: 'info' };

/** What every logger created from now on writes: set once per command, from its options. */
export function configureLogging(settings: LogSettings): void {
  processSettings = settings;
}

function textValue(value: string | number | boolean | null): string {
  return typeof value === 'string' && /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
}

function textLine(time: string, level: LogLevel, event: string, fields: LogFields): string {
  const pairs = Object.entries(fields).flatMap(([key, value]) => (value === undefined ? [] : [`${key}=${textValue(value)}`]));
  return [time.slice(11, 23), level.toUpperCase().padEnd(5), event, ...pairs].join(' ');
}

/** Log lines (time, level, event, fields) on stderr, as the settings say. */
export function createLogger(sink: LineSink = process.stderr, settings: LogSettings = processSettings): Logger {
  const format = settings.format ?? (sink.isTTY ? 'text' : 'json');
  const shown = LOG_LEVELS.indexOf(settings.level);
  const emit = (level: LogLevel) => (event: string, fields: LogFields = {}) => {
    if (LOG_LEVELS.indexOf(level) > shown) return;
    const time = new Date().toISOString();
    sink.write(`${format === 'json' ? JSON.stringify({ time, level, event, ...fields }) : textLine(time, level, event, fields)}\n`);
  };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}

/** For callers that want no log output (library use in tests). */
export const silentLogger: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
