/**
 * Runs a wait strategy against a started container under the startup timeout, failing early and
 * clearly when the container exits first. Every failure carries the last lines of output.
 */
import { tcError, isTestcellError, type TestcellError } from "../errors";
import type { ContainerHandle, WaitStrategy } from "./wait-strategy";

const LOG_LINES = 50;
const EXIT_GRACE_MS = 500;

function delay(ms: number): Promise<"pending"> {
  return new Promise((resolve) => setTimeout(() => resolve("pending"), ms));
}

/** Resolves when ready; rejects with TC_ERR_WAIT_TIMEOUT or TC_ERR_CONTAINER_EXITED. */
export async function waitForContainer(
  container: ContainerHandle,
  strategy: WaitStrategy,
  timeoutMs: number,
  image: string,
  outer?: AbortSignal,
): Promise<void> {
  const controller = new AbortController();
  const onOuter = () => controller.abort(outer!.reason);
  outer?.addEventListener("abort", onOuter, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)));
  // a one-shot strategy waits for the exit itself; for the others an exit means failure
  const exited = strategy.expectsExit ? new Promise<never>(() => undefined) : container.exited.then(() => "exited" as const);
  const aborted = new Promise<"aborted">((resolve) => controller.signal.addEventListener("abort", () => resolve("aborted"), { once: true }));
  const ready = strategy.waitUntilReady(container, controller.signal).then(
    () => "ready" as const,
    (err: unknown) => ({ err }),
  );
  try {
    const outcome = await Promise.race([ready, timedOut, exited, aborted]);
    if (outcome === "ready") return;
    // a container that printed its line and exited at once is ready: the log strategy reads the
    // rest of the output and settles within milliseconds, so give it a short grace to answer
    const settled = outcome === "exited" ? await Promise.race([ready, delay(EXIT_GRACE_MS)]) : outcome;
    if (settled === "ready") return;
    const cause = typeof settled === "object" ? settled.err : typeof outcome === "object" ? outcome.err : undefined;
    throw await failure(container, strategy, timeoutMs, image, cause, outcome === "aborted" ? "aborted" : outcome === "timeout" ? "timeout" : "exited");
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener("abort", onOuter);
    controller.abort();
  }
}

async function failure(
  container: ContainerHandle,
  strategy: WaitStrategy,
  timeoutMs: number,
  image: string,
  cause: unknown,
  kind: "timeout" | "exited" | "aborted",
): Promise<TestcellError> {
  const id = container.id.slice(0, 12);
  const exit = container.exitInfo();
  const lines = await container.lastLogLines(LOG_LINES);
  const tail = lines.length ? `\nlast ${lines.length} lines of output:\n${lines.map((l) => `  ${l}`).join("\n")}` : "\n(the container printed nothing)";
  const context = { containerId: container.id, image, waitStrategy: strategy.describe(), exitCode: exit?.exitCode };
  if (kind === "aborted") return tcError("TC_ERR_ABORTED", `waiting for container ${id} (${image}) was aborted`, { cause, context });
  if (exit || (isTestcellError(cause) && cause.code === "TC_ERR_CONTAINER_EXITED")) {
    const status = exit ? `exited with code ${exit.exitCode}${exit.oomKilled ? " (OOM killed)" : ""}` : "ended its output";
    return tcError("TC_ERR_CONTAINER_EXITED", `container ${id} (${image}) ${status} before it was ready (waiting for ${strategy.describe()})${tail}`, { cause, context });
  }
  if (cause !== undefined) {
    if (isTestcellError(cause)) return cause;
    return tcError("TC_ERR_RUNTIME", `wait for ${strategy.describe()} failed in container ${id} (${image}): ${String((cause as Error)?.message ?? cause)}${tail}`, { cause, context });
  }
  return tcError("TC_ERR_WAIT_TIMEOUT", `container ${id} (${image}) was not ready after ${timeoutMs}ms (waiting for ${strategy.describe()}); raise withStartupTimeout() if it is just slow${tail}`, { context });
}
