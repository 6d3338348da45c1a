// Started as a child process by the crash test: starts a container, reports it, then waits to be killed.
import { GenericContainer } from "../../src";

async function main(): Promise<void> {
  const c = await new GenericContainer("busybox").withCommand(["sleep", "600"]).start();
  const pid1 = (await c.exec(["sh", "-c", "echo $PPID"])).stdout.trim();
  process.stdout.write(JSON.stringify({ id: c.getId(), pid1 }) + "\n");
  setInterval(() => undefined, 1 << 30);
}

main().catch((err) => {
  process.stderr.write(String(err?.stack ?? err) + "\n");
  process.exit(1);
});
