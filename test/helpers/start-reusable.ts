// Started as a child process by the reuse test: asks for a reusable container, prints its id, exits.
import { GenericContainer } from "../../src";

async function main(): Promise<void> {
  const c = await new GenericContainer("busybox").withCommand(["sleep", "300"]).withLabels({ token: process.argv[2]! }).withReuse().start();
  process.stdout.write(JSON.stringify({ id: c.getId() }) + "\n");
}

main().catch((err) => {
  process.stderr.write(String(err?.stack ?? err) + "\n");
  process.exit(1);
});
