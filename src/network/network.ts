/**
 * User-defined networks: a network namespace of its own holding a bridge (made by the native
 * helper), which containers join through veth pairs. Members find each other by name and alias
 * through /etc/hosts entries that testcell keeps current. Nothing is routed from the host.
 */
import crypto from "node:crypto";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import "../polyfill";
import { getConfig, type Config } from "../config";
import { invalidArgument, tcError } from "../errors";
import { acquireFileLock } from "../image/file-lock";

export interface NetworkMember {
  containerId: string;
  /** Names this member answers to: its hostname, its name, its aliases. */
  names: string[];
  address: string;
  /** The member's hosts file on the host, rewritten when members come and go. */
  hostsFile: string;
}

export interface NetworkRecord {
  id: string;
  name: string;
  /** e.g. "10.89.7" for 10.89.7.0/24; the bridge is .1, members from .2. */
  prefix: string;
  netns: string;
  members: NetworkMember[];
}

function networksDir(config: Config): string {
  return path.join(config.stateDir, "networks");
}

/** Runs a helper mode that prints one JSON line; rejects with its stderr. */
function runShim(config: Config, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(config.shimPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    const err: Buffer[] = [];
    child.stderr!.on("data", (d: Buffer) => err.push(d));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve() : reject(tcError("TC_ERR_RUNTIME", `testcell-shim ${args[0]} failed (exit ${code}): ${Buffer.concat(err).toString().trim()}`)),
    );
  });
}

/** Reads a network's record by id or name, or undefined. */
export function findNetwork(config: Config, idOrName: string): NetworkRecord | undefined {
  const dir = networksDir(config);
  for (const f of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
    if (!f.endsWith(".json")) continue;
    try {
      const r = JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")) as NetworkRecord;
      if (r.id === idOrName || r.name === idOrName) return r;
    } catch {
      // a record being written: skip
    }
  }
  return undefined;
}

/** Changes a network's record under its lock, and rewrites every member's hosts file. */
export async function updateNetwork(config: Config, id: string, change: (r: NetworkRecord) => void): Promise<NetworkRecord> {
  const file = path.join(networksDir(config), `${id}.json`);
  const lock = await acquireFileLock(`${file}.lock`);
  try {
    const r = JSON.parse(fs.readFileSync(file, "utf8")) as NetworkRecord;
    change(r);
    r.members = r.members.filter((m) => fs.existsSync(m.hostsFile));
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(r));
    fs.renameSync(`${file}.tmp`, file);
    for (const m of r.members) writeHosts(m.hostsFile, hostsEntries(r));
    return r;
  } finally {
    await lock.release();
  }
}

/** The /etc/hosts lines naming every member of a network. */
export function hostsEntries(r: NetworkRecord): string {
  return r.members.map((m) => `${m.address}\t${m.names.join(" ")}`).join("\n") + "\n";
}

const BASE_HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";

/** Rewrites a member's hosts file in place (same inode: it is bind-mounted into the container). */
export function writeHosts(file: string, networkLines: string, own = ""): void {
  let extra = own;
  try {
    // keep the container's own section (everything above the marker)
    const current = fs.readFileSync(file, "utf8");
    extra = current.split("# testcell networks\n")[0]!;
  } catch {
    extra = BASE_HOSTS + own;
  }
  const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT, 0o644);
  try {
    const content = Buffer.from(`${extra}# testcell networks\n${networkLines}`);
    fs.ftruncateSync(fd, 0);
    fs.writeSync(fd, content, 0, content.length, 0);
  } finally {
    fs.closeSync(fd);
  }
}

export class Network {
  constructor(private readonly options: { name?: string } = {}) {}

  /** Creates the network namespace and its bridge. */
  async start(config: Config = getConfig()): Promise<StartedNetwork> {
    const id = crypto.randomBytes(32).toString("hex");
    const name = this.options.name ?? `testcell-${id.slice(0, 12)}`;
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) throw invalidArgument("Network name", "a name matching [a-zA-Z0-9][a-zA-Z0-9_.-]*", name);
    const dir = networksDir(config);
    fs.mkdirSync(dir, { recursive: true });
    const lock = await acquireFileLock(path.join(dir, "allocate.lock"));
    let record: NetworkRecord;
    try {
      if (findNetwork(config, name)) throw invalidArgument("Network name", "a name not in use", name);
      const used = new Set(fs.readdirSync(dir).filter((f) => f.endsWith(".json")).map((f) => findNetwork(config, f.slice(0, -5))?.prefix));
      let prefix = "";
      for (let i = 0; i < 256 * 64 && (!prefix || used.has(prefix)); i++) prefix = `10.${89 + Math.floor(Math.random() * 8)}.${Math.floor(Math.random() * 256)}`;
      const netns = path.join(dir, `${id}.netns`);
      fs.writeFileSync(netns, "");
      record = { id, name, prefix, netns, members: [] };
      try {
        await runShim(config, ["netns", netns, "--addr", `${prefix}.1/24`]);
      } catch (err) {
        fs.rmSync(netns, { force: true });
        throw err;
      }
      fs.writeFileSync(path.join(dir, `${id}.json`), JSON.stringify(record));
    } finally {
      await lock.release();
    }
    return new StartedNetwork(record, config);
  }
}

export class StartedNetwork implements AsyncDisposable {
  private stopped: Promise<void> | undefined;

  constructor(
    private readonly record: NetworkRecord,
    private readonly config: Config,
  ) {}

  getId(): string {
    return this.record.id;
  }

  getName(): string {
    return this.record.name;
  }

  /** Removes the network; its containers should be stopped first. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      const dir = networksDir(this.config);
      await runShim(this.config, ["netns-rm", this.record.netns]).catch((err) => {
        if (fs.existsSync(this.record.netns)) throw err;
      });
      fs.rmSync(path.join(dir, `${this.record.id}.json`), { force: true });
      fs.rmSync(this.record.netns, { force: true });
    })();
    return this.stopped;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
