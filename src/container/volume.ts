/**
 * Named volumes: a directory in the store that outlives containers and can be mounted by several
 * at once (`withVolume(volume, "/var/lib/postgresql/data")`), as `docker volume create`.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { getConfig } from "../config";
import { invalidArgument } from "../errors";

export class Volume {
  private readonly dir: string;

  /** Opens (creating it when missing) the volume `name`; a random name when none is given. */
  constructor(
    private readonly name: string = crypto.randomBytes(8).toString("hex"),
    cacheDir: string = getConfig().cacheDir,
  ) {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) throw invalidArgument("Volume(name)", "a name matching [a-zA-Z0-9][a-zA-Z0-9_.-]*", name);
    this.dir = path.join(cacheDir, "volumes", name, "_data");
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o755 });
  }

  getName(): string {
    return this.name;
  }

  /** The host directory holding the volume's data. */
  getPath(): string {
    return this.dir;
  }

  /** Deletes the volume and its data; containers using it should be stopped first. */
  async remove(): Promise<void> {
    await fs.promises.rm(path.dirname(this.dir), { recursive: true, force: true });
  }
}
