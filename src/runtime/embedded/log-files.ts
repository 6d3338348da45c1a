/**
 * Container output lives in two append-only files per container (stdout.log, stderr.log), written
 * by the container itself. These helpers read and follow them, woken by inotify (fs.watch).
 */
import fs from "node:fs";
import { Readable } from "node:stream";

const CHUNK = 64 * 1024;

/** Reads one file from an offset, turning bytes into complete lines. */
class LineReader {
  private offset = 0;
  private partial = "";
  constructor(private readonly file: string) {}

  /** Returns the complete lines appended since the last call (and the partial one when `flush`). */
  async read(flush = false): Promise<string[]> {
    const lines: string[] = [];
    let handle: fs.promises.FileHandle;
    try {
      handle = await fs.promises.open(this.file, "r");
    } catch {
      return lines;
    }
    try {
      const buf = Buffer.allocUnsafe(CHUNK);
      for (;;) {
        const { bytesRead } = await handle.read(buf, 0, CHUNK, this.offset);
        if (bytesRead === 0) break;
        this.offset += bytesRead;
        const text = this.partial + buf.toString("utf8", 0, bytesRead);
        const parts = text.split("\n");
        this.partial = parts.pop()!;
        lines.push(...parts);
      }
    } finally {
      await handle.close();
    }
    if (flush && this.partial) {
      lines.push(this.partial);
      this.partial = "";
    }
    return lines;
  }
}

/**
 * A stream of output lines (each ending in "\n") from the given files; with `follow`, it stays
 * open and delivers new lines until `ended` resolves.
 */
export function followLines(files: string[], ended: Promise<unknown>, follow: boolean, tail?: number): Readable {
  const readers = files.map((f) => new LineReader(f));
  const watchers: fs.FSWatcher[] = [];
  let running: Promise<void> | undefined;
  let again = false;
  let done = false;

  const out = new Readable({ read() {}, destroy(err, cb) { stop(); cb(err); } , encoding: "utf8" });
  let skip = tail !== undefined;
  const drain = async (flush: boolean) => {
    const lines: string[] = [];
    for (const r of readers) lines.push(...(await r.read(flush)));
    // the first read holds everything printed so far: keep only its last `tail` lines
    const shown = skip ? lines.slice(Math.max(0, lines.length - tail!)) : lines;
    skip = false;
    for (const line of shown) out.push(line + "\n");
  };
  const pump = (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await drain(false);
      } while (again);
    })().finally(() => (running = undefined));
    return running;
  };
  const stop = () => {
    done = true;
    for (const w of watchers) w.close();
  };
  const finish = async () => {
    if (done) return;
    stop();
    await running;
    await drain(true);
    out.push(null);
  };

  if (follow) {
    for (const f of files) {
      try {
        const w = fs.watch(f, { persistent: false }, () => void pump().catch((e) => out.destroy(e)));
        w.on("error", () => undefined);
        watchers.push(w);
      } catch {
        // the file may not exist yet for a container that has not printed; the final drain reads it
      }
    }
    void pump().catch((e) => out.destroy(e));
    ended.then(finish, finish).catch((e) => out.destroy(e));
  } else {
    void finish().catch((e) => out.destroy(e));
  }
  return out;
}

/** The last `n` lines of the given files (stdout first, then stderr), for error messages. */
export async function tailLines(files: string[], n: number): Promise<string[]> {
  const lines: string[] = [];
  for (const file of files) {
    try {
      const handle = await fs.promises.open(file, "r");
      try {
        const { size } = await handle.stat();
        const start = Math.max(0, size - 256 * 1024);
        const buf = Buffer.alloc(size - start);
        await handle.read(buf, 0, buf.length, start);
        const text = buf.toString("utf8").replace(/\n$/, "");
        if (text) lines.push(...text.split("\n").slice(start > 0 ? 1 : 0));
      } finally {
        await handle.close();
      }
    } catch {
      // no such file: the container printed nothing there
    }
  }
  return lines.slice(-n);
}
