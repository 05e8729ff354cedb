import { setTimeout as sleep } from 'node:timers/promises';
import { PrtiqlError } from '../../shared/errors.js';
import type { ContainerConfig } from '../../shared/oci.js';

/**
 * What the device runs: a `service` must keep running, a `job` does its work and exits, and
 * its exit status 0 is a pass (the device config's `workload`).
 */
export type Workload = 'service' | 'job';

/**
 * While the container runs: `alive` passes once it still runs after `seconds`; `command` is
 * the image's Healthcheck, run inside the container until it passes once, or has failed
 * `retries` times in a row after the start period.
 */
export type HealthProbe =
  | { kind: 'alive'; seconds: number }
  | { kind: 'command'; args: string[]; intervalMs: number; timeoutMs: number; startPeriodMs: number; retries: number };

/** How the first start of an image is judged. A job without a Healthcheck has no probe: its exit status decides. */
export interface HealthPlan {
  workload: Workload;
  probe?: HealthProbe;
}

export type HealthOutcome = { healthy: true } | { healthy: false; reason: string; running: boolean };

export interface CheckedContainer {
  /** Settles when the container has stopped, with its exit status where known. */
  stopped: Promise<number | undefined>;
  /** Runs a command inside the container and returns its exit status. */
  exec(args: string[], timeoutMs: number): Promise<number>;
}

/** Docker's defaults for what the image's Healthcheck leaves at 0. */
const DEFAULT_INTERVAL_MS = 30_000;
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_RETRIES = 3;
const NANOS_PER_MS = 1_000_000;

/**
 * The image's Healthcheck if it has a usable one, else for a service the alive check of
 * `aliveSeconds`, for a job its exit status alone.
 */
export function healthPlan(config: ContainerConfig, aliveSeconds: number, workload: Workload): HealthPlan {
  const check = config.Healthcheck;
  const test = check?.Test ?? [];
  const [kind, ...rest] = test;
  if (kind === undefined || kind === 'NONE') return workload === 'service' ? { workload, probe: { kind: 'alive', seconds: aliveSeconds } } : { workload };
  let args: string[];
  if (kind === 'CMD' && rest.length > 0) args = rest;
  else if (kind === 'CMD-SHELL' && rest.length === 1) args = ['/bin/sh', '-c', rest[0]];
  else throw new PrtiqlError('E_BAD_INPUT', `image config Healthcheck.Test is not NONE, CMD or CMD-SHELL: ${JSON.stringify(test)}`);
  const duration = (nanos: number | undefined, fallback: number) => (nanos && nanos > 0 ? Math.ceil(nanos / NANOS_PER_MS) : fallback);
  return {
    workload,
    probe: {
      kind: 'command',
      args,
      intervalMs: duration(check?.Interval, DEFAULT_INTERVAL_MS),
      timeoutMs: duration(check?.Timeout, DEFAULT_TIMEOUT_MS),
      startPeriodMs: duration(check?.StartPeriod, 0),
      retries: check?.Retries && check.Retries > 0 ? check.Retries : DEFAULT_RETRIES,
    },
  };
}

/**
 * Judges a container that has just been started. A service that stops first has failed; a
 * job that stops first has passed if it exited 0.
 */
export async function checkHealth(plan: HealthPlan, container: CheckedContainer): Promise<HealthOutcome> {
  const cancel = new AbortController();
  const stopped = container.stopped.then((status): HealthOutcome => {
    if (plan.workload === 'job' && status === 0) return { healthy: true };
    const exit = status === undefined ? '' : ` (exit status ${status})`;
    if (plan.workload === 'job') return { healthy: false, running: false, reason: `the job failed${exit}` };
    const hint = status === 0 ? '; an image that does its work and exits is a job: "workload": "job" in the device config' : '';
    const reason = `the container stopped before it was judged healthy${exit}${hint}`;
    return { healthy: false, running: false, reason };
  });
  const { probe } = plan;
  try {
    if (!probe) return await stopped;
    return await Promise.race([stopped, probe.kind === 'alive' ? staysAlive(probe.seconds, cancel.signal) : passes(probe, container, cancel.signal)]);
  } finally {
    cancel.abort();
  }
}

async function staysAlive(seconds: number, signal: AbortSignal): Promise<HealthOutcome> {
  await sleep(seconds * 1000, undefined, { signal });
  return { healthy: true };
}

async function passes(plan: Extract<HealthProbe, { kind: 'command' }>, container: CheckedContainer, signal: AbortSignal): Promise<HealthOutcome> {
  const started = Date.now();
  let failures = 0;
  let status = 0;
  while (failures < plan.retries) {
    await sleep(plan.intervalMs, undefined, { signal });
    status = await container.exec(plan.args, plan.timeoutMs);
    if (status === 0) return { healthy: true };
    if (Date.now() - started >= plan.startPeriodMs) failures++;
  }
  return { healthy: false, running: true, reason: `the image's health check failed ${failures} times (last exit status ${status})` };
}
