#!/usr/bin/env node
// Writes oclif.manifest.json, the list of the CLI's commands with their flags: with it, a
// `prtiql` run loads the one command it runs, not every command and everything they import.
// usage: node scripts/oclif-manifest.mjs (after tsc: it reads dist/cli/src/commands)
import { rename, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Plugin } from '@oclif/core';

const root = resolve(import.meta.dirname, '..');
const plugin = new Plugin({ root, type: 'core', isRoot: true, ignoreManifest: true, errorOnManifestCreate: true });
await plugin.load();
const target = resolve(root, 'oclif.manifest.json');
const temp = `${target}.tmp-${process.pid}`;
await writeFile(temp, `${JSON.stringify(plugin.manifest, null, 2)}\n`);
await rename(temp, target);
console.log(`oclif.manifest.json: ${Object.keys(plugin.manifest.commands).length} commands`);
