/**
 * `await using` needs Symbol.asyncDispose. Node 20 defines it as Symbol.for("nodejs.asyncDispose"),
 * but a fresh vm context (Jest's test environment) does not: define it there with the same
 * registered symbol, so `await using c = await container.start()` works in Jest too.
 */
const S = Symbol as unknown as { asyncDispose?: symbol; dispose?: symbol };
S.asyncDispose ??= Symbol.for("nodejs.asyncDispose");
S.dispose ??= Symbol.for("nodejs.dispose");

export {};
