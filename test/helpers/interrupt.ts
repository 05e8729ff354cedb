import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * For crash tests: the stretches of a run between the JSON log lines it prints on stderr, and
 * interruptions at a random moment of a random stretch. Choosing the stretch first gives the
 * short steps (a commit, a pointer swap) as many interruptions as the long ones (a download),
 * whatever the machine's speed.
 */
export interface Timeline {
  /** The event of each log line, in order. */
  events: string[];
  /** Before the first line, between lines, after the last until the exit: events.length + 1 stretches. */
  stretchesMs: number[];
}

function eventOf(line: string): string {
  try {
    return (JSON.parse(line) as { event?: string }).event ?? line;
  } catch {
    return line;
  }
}

/** Calls `online` with each complete stderr line of `child`. */
function onLines(child: ChildProcess, online: (line: string) => void): void {
  let pending = '';
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    pending += text;
    for (let end = pending.indexOf('\n'); end !== -1; end = pending.indexOf('\n')) {
      online(pending.slice(0, end));
      pending = pending.slice(end + 1);
    }
  });
}

/** Runs the command to its end, timing its log lines; it must succeed. */
export async function recordTimeline(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Timeline> {
  const started = Date.now();
  const child = spawn(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const times: number[] = [];
  const events: string[] = [];
  onLines(child, (line) => {
    times.push(Date.now());
    events.push(eventOf(line));
  });
  const [code] = (await once(child, 'close')) as [number | null];
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${code}: ${events.join(', ')}`);
  const marks = [started, ...times, Date.now()];
  return { events, stretchesMs: marks.slice(1).map((mark, i) => mark - marks[i]) };
}

export interface Interruption {
  /** The last log event before the interruption, or what happened instead. */
  during: string;
  /** The command had finished (successfully) before the interruption. */
  finished: boolean;
}

/**
 * Starts the command and calls `interrupt` with it at a random moment: in a stretch of
 * `timeline` chosen at random, at a random point of that stretch's length. Resolves once the
 * command has exited; `interrupt` must make it exit.
 */
export async function runInterrupted(
  command: string,
  args: string[],
  options: SpawnOptions,
  timeline: Timeline,
  interrupt: (child: ChildProcess) => Promise<void>,
): Promise<Interruption> {
  const stretch = Math.floor(Math.random() * timeline.stretchesMs.length);
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'ignore', 'pipe'] });
  const closed = once(child, 'close');
  let lines = 0;
  let last = '(nothing logged yet)';
  const reached = new Promise<void>((resolve) => {
    if (stretch === 0) resolve();
    onLines(child, (line) => {
      last = eventOf(line);
      if (++lines === stretch) resolve();
    });
    void closed.then(() => resolve());
  });
  await reached;
  await Promise.race([sleep(Math.random() * timeline.stretchesMs[stretch]), closed]);
  const finished = child.exitCode === 0;
  const during = finished ? '(finished)' : last;
  await interrupt(child);
  await closed;
  return { during, finished };
}
