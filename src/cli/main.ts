/**
 * The `testcell` command: look at and clean up what testcell keeps on this machine.
 *
 *   testcell ps | images | pull <ref> | rmi <ref> | logs <id> | rm <id> | prune | doctor
 */
import fs from "node:fs";
import path from "node:path";
import { getConfig } from "../config";
import { createContext } from "../context";
import { isTestcellError } from "../errors";
import { containerPaths, sweepStateDir } from "../runtime/embedded/state-dir";
import { isRunning } from "../runtime/embedded/reattach";
import { doctor } from "./doctor";

function containers(): Array<{ id: string; shimPid: number; running: boolean; image: string }> {
  const dir = getConfig().stateDir;
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((d) => /^[0-9a-f]{64}$/.test(d)).map((id) => {
    const p = containerPaths(dir, id);
    const shimPid = Number(fs.readFileSync(p.pidFile, "utf8").trim() || 0);
    let image = "";
    try {
      image = (JSON.parse(fs.readFileSync(path.join(p.dir, "reuse.json"), "utf8")) as { spec: { image: string } }).spec.image;
    } catch {
      // only reused containers record their spec
    }
    return { id, shimPid, running: shimPid > 0 && isRunning(shimPid), image };
  });
}

async function main(argv: string[]): Promise<number> {
  const [cmd, arg] = argv;
  const ctx = createContext();
  switch (cmd) {
    case "ps":
      for (const c of containers()) console.log(`${c.id.slice(0, 12)}  ${c.running ? "running" : "dead   "}  helper ${c.shimPid}  ${c.image}`);
      return 0;
    case "images":
      for (const i of await ctx.images.list()) console.log(`${i.reference.padEnd(50)} ${i.platform.padEnd(12)} ${i.manifestDigest.slice(0, 19)}  ${(i.size / 1e6).toFixed(1)} MB`);
      return 0;
    case "pull": {
      const img = await ctx.images.ensure(arg!, { pullPolicy: "always" });
      console.log(`${img.reference} ${img.manifestDigest}`);
      return 0;
    }
    case "rmi":
      console.log(`removed ${await ctx.images.remove(arg!)} reference(s)`);
      return 0;
    case "logs": {
      const c = containers().find((x) => x.id.startsWith(arg ?? "-"));
      if (!c) throw new Error(`no container ${arg}`);
      const p = containerPaths(getConfig().stateDir, c.id);
      process.stdout.write(fs.readFileSync(p.stdout));
      process.stderr.write(fs.readFileSync(p.stderr));
      return 0;
    }
    case "rm": {
      const c = containers().find((x) => x.id.startsWith(arg ?? "-"));
      if (!c) throw new Error(`no container ${arg}`);
      if (c.running) process.kill(c.shimPid, "SIGTERM");
      return 0;
    }
    case "prune": {
      const removed = await sweepStateDir(getConfig().stateDir);
      console.log(`removed the state of ${removed.length} dead container(s)`);
      return 0;
    }
    case "doctor":
      return doctor();
    default:
      console.error("usage: testcell ps | images | pull <ref> | rmi <ref> | logs <id> | rm <id> | prune | doctor");
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(isTestcellError(err) ? `${err.code}: ${err.message}` : String(err?.message ?? err));
    process.exit(1);
  },
);
