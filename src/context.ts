/**
 * The services a container needs (settings, image store, runtime), built once per process and
 * injectable for tests and for other runtimes.
 */
import { getConfig, type Config } from "./config";
import { resolveUser } from "./container/image-user";
import { ImageService } from "./image/image-service";
import { nativeFixup } from "./runtime/embedded/fixup";
import { NativeRuntime } from "./runtime/embedded/native-runtime";
import type { Runtime } from "./runtime/runtime";

export interface TestcellContext {
  config: Config;
  images: ImageService;
  runtime: Runtime;
}

/** Builds the default context from a config: the embedded runtime and the local store. */
export function createContext(config: Config = getConfig()): TestcellContext {
  const images = new ImageService({ config, fixup: nativeFixup(config.shimPath) });
  const runtime = new NativeRuntime({
    shimPath: config.shimPath,
    stateDir: config.stateDir,
    userResolver: (spec) => async (user) => resolveUser(user, spec.layerDirs, spec.image),
  });
  return { config, images, runtime };
}

let defaultContext: TestcellContext | undefined;

/** The process-wide default context, created on first use. */
export function getDefaultContext(): TestcellContext {
  defaultContext ??= createContext();
  return defaultContext;
}
