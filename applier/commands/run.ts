import { DEFAULT_DEVICE_CONFIG_PATH } from '../runtime/device-config.js';
import { runContainer, type RunOptions } from '../runtime/run.js';
import { CONTAINER_NAME_OPTION, DEFAULT_STOP_TIMEOUT_SECONDS, parseContainerName, parseSeconds } from './container-options.js';
import { STORE_OPTION } from './common-options.js';
import { defineCommand, parseCommandLine, type OptionTable, type OptionValues } from './subcommand.js';

export const DEFAULT_HEALTH_SECONDS = 10;

const RUN_OPTIONS = {
  store: STORE_OPTION,
  name: CONTAINER_NAME_OPTION,
  detach: {
    type: 'boolean',
    description: 'start the container in the background, its output in <store>/containers/<id>.log; return once it runs and passed its health check',
  },
  'health-seconds': {
    type: 'string',
    placeholder: 'seconds',
    default: String(DEFAULT_HEALTH_SECONDS),
    description: "how long an image's first start must stay up to be healthy; 0 turns health checks and rollback off",
  },
  config: { type: 'string', placeholder: 'device.json', description: `the device config: mounts, env, network, limits (default ${DEFAULT_DEVICE_CONFIG_PATH} if it exists)` },
  network: {
    type: 'string',
    placeholder: 'mode',
    choices: ['none', 'host'],
    description: "none: loopback only; host: the device's network (default: the device config's, else none)",
  },
  rootfs: { type: 'string', placeholder: 'mode', choices: ['auto', 'overlay', 'copy'], default: 'auto', description: 'how the root filesystem is assembled: auto tries overlay, then copies' },
  'stop-timeout': {
    type: 'string',
    placeholder: 'seconds',
    default: String(DEFAULT_STOP_TIMEOUT_SECONDS),
    description: 'seconds the container may take to stop after SIGTERM or SIGINT before it is killed',
  },
} as const satisfies OptionTable;

function runOptions(values: OptionValues<typeof RUN_OPTIONS>): RunOptions {
  return {
    store: values.store,
    name: parseContainerName('run', values.name),
    ...(values.network !== undefined && { network: values.network as 'none' | 'host' }),
    rootfs: values.rootfs as RunOptions['rootfs'],
    stopTimeout: parseSeconds('run', 'stop-timeout', values['stop-timeout']),
    detach: values.detach,
    healthSeconds: parseSeconds('run', 'health-seconds', values['health-seconds']),
    ...(values.config !== undefined && { config: values.config }),
  };
}

export const runCommand = defineCommand({
  name: 'run',
  summary: 'run the current image with runc, health-check its first start and roll back a failed one',
  description:
    "In the foreground (the service an init system supervises) it exits with the container's exit status; the applier's own failures have codes of their own (docs/EXIT-CODES.md). SIGTERM is relayed as the image's StopSignal, SIGINT as itself. Needs runc on PATH.",
  options: RUN_OPTIONS,
  environment: { PATH: 'where runc, mount, umount, mknod and setfattr are looked up' },
  examples: [
    'applier run --store /var/lib/prtiql',
    'applier run --store /var/lib/prtiql --name web --detach --network host',
    'applier run --store /var/lib/prtiql --health-seconds 0 --rootfs copy',
  ],
  run: async (values) => runContainer(runOptions(values)),
});

/** The options `run` would run with, from its argv. */
export function parseRunOptions(args: string[]): RunOptions {
  return runOptions(parseCommandLine('run', RUN_OPTIONS, [], args).values);
}
