import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';
import { loadConfigFile } from '../../../src/config/load-config.js';
import { loadRules } from '../../../src/config/load-rules.js';

/**
 * Docker is not available where the tests run, so the deployments are checked by structure: the
 * isolation properties each topology relies on must hold in docker-compose.yml and the Dockerfile.
 */

const ROOT = path.resolve(import.meta.dirname, '../../..');

/** The part of the compose format these checks read; parsing fails loudly on anything else. */
const serviceSchema = z.looseObject({
  image: z.string().optional(),
  build: z.union([z.string(), z.object({ context: z.string(), target: z.string().optional() })]).optional(),
  profiles: z.array(z.string()).optional(),
  networks: z.union([z.record(z.string(), z.unknown()), z.array(z.string())]).optional(),
  network_mode: z.string().optional(),
  cap_add: z.array(z.string()).optional(),
  cap_drop: z.array(z.string()).optional(),
  read_only: z.boolean().optional(),
  user: z.string().optional(),
  command: z.array(z.string()).optional(),
  environment: z.record(z.string(), z.string()).optional(),
  depends_on: z.union([z.array(z.string()), z.record(z.string(), z.object({ condition: z.string() }))]).optional(),
  volumes: z.array(z.string()).optional(),
  restart: z.string().optional(),
});
type Service = z.infer<typeof serviceSchema>;

const compose = z
  .object({ services: z.record(z.string(), serviceSchema), networks: z.record(z.string(), z.object({ internal: z.boolean().optional() }).loose().nullable()) })
  .parse(parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }));
const services = Object.entries(compose.services);

function networksOf(service: Service): string[] {
  if (service.networks === undefined) return [];
  return Array.isArray(service.networks) ? service.networks : Object.keys(service.networks);
}

function isInternal(network: string): boolean {
  return compose.networks[network]?.internal === true;
}

/** The proxy itself: built from this repository's default target and started with `run`. */
function isChokepoint(service: Service): boolean {
  return service.build === '.' && service.command?.[0] === 'run';
}

function isInit(service: Service): boolean {
  return service.command?.[0] === 'iptables';
}

const agents = services.filter(([, service]) => !isChokepoint(service) && !isInit(service));
const proxies = services.filter(([, service]) => isChokepoint(service));

describe('docker-compose.yml', () => {
  it('starts the plain sidecar with `docker compose up` (everything else is behind a profile)', () => {
    const unprofiled = services.filter(([, service]) => service.profiles === undefined).map(([name]) => name);
    expect(unprofiled.sort()).toEqual(['agent', 'chokepoint']);
    const profiles = new Set(services.flatMap(([, service]) => service.profiles ?? []));
    expect([...profiles].sort()).toEqual(['gateway', 'transparent']);
  });

  it('gives egress to Chokepoint only: every other service is on internal networks only', () => {
    const outside = Object.keys(compose.networks).filter((network) => !isInternal(network));
    expect(outside).toEqual(['egress']);
    for (const [name, service] of services) {
      const external = networksOf(service).filter((network) => !isInternal(network));
      if (!isChokepoint(service)) expect(external, name).toEqual([]);
    }
    for (const [name, service] of proxies) expect(networksOf(service), name).toContain('egress');
  });

  it('puts every agent either on an internal network or inside Chokepoint\'s namespace behind the redirection', () => {
    expect(agents.length).toBeGreaterThanOrEqual(4);
    for (const [name, service] of agents) {
      if (service.network_mode !== undefined) {
        const owner = service.network_mode.replace(/^service:/, '');
        expect(isChokepoint(compose.services[owner] ?? {}), name).toBe(true);
        // It starts only after the redirection was installed in that namespace.
        const depends = service.depends_on;
        expect(Array.isArray(depends), name).toBe(false);
        const [init] = Object.entries(Array.isArray(depends) || depends === undefined ? {} : depends).filter(([dependency]) => isInit(compose.services[dependency] ?? {}));
        expect(init?.[1].condition, name).toBe('service_completed_successfully');
        expect(compose.services[init?.[0] ?? '']?.network_mode, name).toBe(service.network_mode);
      } else {
        expect(networksOf(service).length, name).toBeGreaterThan(0);
        expect(networksOf(service).every(isInternal), name).toBe(true);
        // Told where the proxy is.
        expect(service.environment?.HTTPS_PROXY, name).toMatch(/^http:\/\/172\.30\.\d+\.2:3128$/);
      }
    }
  });

  it('grants NET_ADMIN to the one-shot init container only; agents and Chokepoint drop every capability', () => {
    for (const [name, service] of services) {
      if (isInit(service)) {
        expect(service.cap_add, name).toEqual(['NET_ADMIN']);
        expect(service.restart, name).toBe('no');
        expect(service.command, name).toEqual(expect.arrayContaining(['install', '--mode', 'sidecar', '--proxy-user', 'chokepoint']));
        expect(service.build, name).toEqual({ context: '.', target: 'iptables-init' });
      } else {
        expect(service.cap_add, name).toBeUndefined();
        expect(service.cap_drop, name).toEqual(['ALL']);
      }
    }
    expect(services.filter(([, service]) => isInit(service))).toHaveLength(1);
  });

  it('runs Chokepoint read-only, as its image\'s non-root user, with its state on a volume', () => {
    expect(proxies).toHaveLength(3);
    for (const [name, service] of proxies) {
      expect(service.read_only, name).toBe(true);
      expect(service.user, name).toBeUndefined();
      expect(service.volumes?.some((volume) => volume.endsWith(':/var/lib/chokepoint')), name).toBe(true);
    }
  });

  it('starts the transparent Chokepoint with --transparent and --dns', () => {
    const transparent = compose.services['chokepoint-transparent'];
    expect(transparent?.command).toEqual(expect.arrayContaining(['--transparent', '--dns']));
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  const stages = dockerfile.split(/^FROM /m).slice(1);

  it('runs the default target as the non-root user chokepoint', () => {
    const runtime = stages.find((stage) => stage.startsWith('node:20-bookworm-slim AS runtime')) ?? '';
    expect(runtime).toMatch(/useradd .*--uid 10001 .*chokepoint/);
    expect(runtime).toMatch(/^USER chokepoint$/m);
    expect(stages.at(-1)?.trim()).toBe('runtime');
  });

  it('has an iptables-init stage with iptables installed', () => {
    const init = stages.find((stage) => stage.startsWith('runtime AS iptables-init')) ?? '';
    expect(init).toMatch(/apt-get install .*iptables/);
  });
});

describe('deploy/ configs', () => {
  for (const topology of ['sidecar', 'transparent', 'gateway']) {
    it(`${topology}: config and rules load`, async () => {
      const config = await loadConfigFile(path.join(ROOT, 'deploy', topology, 'config.yaml'));
      expect(config.ok && config.config.rulesDir).toBe('/etc/chokepoint/rules');
      const rules = await loadRules(path.join(ROOT, 'deploy', topology, 'rules'));
      expect(rules.ok).toBe(true);
    });
  }
});
