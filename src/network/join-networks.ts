/**
 * Joining user-defined networks at container start: an address per network, a hosts file that
 * lists every member by hostname, name and alias (bind-mounted on /etc/hosts and rewritten as
 * members come and go), and the veth requests for the native helper.
 */
import fs from "node:fs";
import path from "node:path";
import type { Config } from "../config";
import { tcError } from "../errors";
import type { ContainerSpec } from "../runtime/runtime";
import { findNetwork, updateNetwork, writeHosts, type NetworkRecord } from "./network";

export interface Membership {
  network: string;
  address: string;
}

/** Adds the container to its networks (spec is changed in place); returns its addresses. */
export async function joinNetworks(config: Config, spec: ContainerSpec, networks: string[], names: string[]): Promise<Membership[]> {
  if (networks.length === 0) return [];
  const hostsFile = path.join(config.stateDir, spec.id, "hosts");
  fs.mkdirSync(path.dirname(hostsFile), { recursive: true, mode: 0o700 });
  const own = spec.copies.find((c) => c.target === "/etc/hosts");
  writeHosts(hostsFile, "", own && "content" in own.source ? own.source.content.toString() : "");
  const joined: Membership[] = [];
  for (const [i, name] of networks.entries()) {
    const found = findNetwork(config, name);
    if (!found) throw tcError("TC_ERR_INVALID_ARGUMENT", `network "${name}" does not exist: create it with new Network().start() and pass it to withNetwork()`);
    let address = "";
    const r = await updateNetwork(config, found.id, (rec) => {
      address = freeAddress(rec);
      rec.members.push({ containerId: spec.id, names: [...new Set(names)], address, hostsFile });
    });
    spec.networks.push({ netns: r.netns, ifname: `eth${i}`, address: `${address}/24` });
    joined.push({ network: r.name, address });
  }
  spec.copies = spec.copies.filter((c) => c.target !== "/etc/hosts");
  spec.bindMounts.push({ source: hostsFile, target: "/etc/hosts", readOnly: false });
  return joined;
}

/** Removes the container from its networks and updates the other members' hosts files. */
export async function leaveNetworks(config: Config, containerId: string, memberships: Membership[]): Promise<void> {
  for (const m of memberships) {
    const found = findNetwork(config, m.network);
    if (found) await updateNetwork(config, found.id, (rec) => (rec.members = rec.members.filter((x) => x.containerId !== containerId)));
  }
}

function freeAddress(r: NetworkRecord): string {
  const used = new Set(r.members.map((m) => m.address));
  for (let n = 2; n < 255; n++) if (!used.has(`${r.prefix}.${n}`)) return `${r.prefix}.${n}`;
  throw tcError("TC_ERR_RUNTIME", `network "${r.name}" has no free address left (253 members)`);
}

