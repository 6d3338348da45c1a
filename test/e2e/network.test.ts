import http from "node:http";
import net from "node:net";
import dgram from "node:dgram";
import type { AddressInfo } from "node:net";
import { GenericContainer, Network, TestContainers, Wait } from "../../src";

jest.setTimeout(60_000);

describe("user-defined networks", () => {
  it("a member reaches another by alias; a container outside the network cannot", async () => {
    // Debian-based images resolve names through glibc's NSS (busybox-static's resolver cannot)
    await using network = await new Network().start();
    await using server = await new GenericContainer("redis:7").withNetwork(network).withNetworkAliases("cache").start();
    await using client = await new GenericContainer("redis:7").withNetwork(network).withEntrypoint(["sleep", "60"]).start();
    expect(server.getNetworkNames()).toEqual([network.getName()]);
    const ip = server.getIpAddress(network.getName());
    expect(ip).toMatch(/^10\.\d+\.\d+\.\d+$/);
    expect((await client.exec(["getent", "hosts", "cache"])).stdout).toMatch(new RegExp(`^${ip.replace(/\./g, "\\.")}\\s+.*cache`));
    expect((await client.exec(["redis-cli", "-h", "cache", "ping"])).stdout).toBe("PONG\n");
    expect((await client.exec(["redis-cli", "-h", server.getHostname(), "ping"])).stdout).toBe("PONG\n");

    await using outsider = await new GenericContainer("redis:7").withEntrypoint(["sleep", "60"]).start();
    const denied = await outsider.exec(["redis-cli", "-h", ip, "ping"]);
    expect(denied.output).toMatch(/Could not connect|Network is unreachable|Connection refused/);
  });

  it("network mode none has only the loopback interface", async () => {
    await using c = await new GenericContainer("busybox").withNetworkMode("none").withCommand(["sleep", "60"]).start();
    expect((await c.exec(["ls", "/sys/class/net"])).stdout.trim()).toBe("lo");
  });
});

describe("published ports", () => {
  it("are bound on 127.0.0.1 only, and freed when the container stops", async () => {
    const c = await new GenericContainer("busybox").withCommand(["sh", "-c", "echo hi > /tmp/i; httpd -f -p 80 -h /tmp"]).withExposedPorts(80).start();
    const port = c.getMappedPort(80);
    expect(c.getHost()).toBe("127.0.0.1");
    await c.stop();
    // the port is free again at once: we can bind it ourselves
    const s = net.createServer();
    await new Promise<void>((resolve, reject) => s.once("error", reject).listen(port, "127.0.0.1", resolve));
    await new Promise((r) => s.close(r));
  });

  it("forwards UDP", async () => {
    // a UDP echo server in perl (the postgres image has perl; busybox's nc has no UDP mode)
    const echo = "use IO::Socket::INET; my $s = IO::Socket::INET->new(LocalPort => 5353, Proto => 'udp') or die; $| = 1; print \"listening\\n\"; while (1) { my $m; my $peer = $s->recv($m, 2048); $s->send($m, 0, $peer); }";
    await using c = await new GenericContainer("postgres:15")
      .withEntrypoint(["perl", "-e", echo])
      .withExposedPorts("5353/udp")
      .withWaitStrategy(Wait.forLogMessage("listening"))
      .start();
    const sock = dgram.createSocket("udp4");
    try {
      const reply = new Promise<string>((resolve) => sock.once("message", (m) => resolve(m.toString())));
      sock.send("ping-udp", c.getMappedPort("5353/udp"), "127.0.0.1");
      expect(await reply).toBe("ping-udp");
    } finally {
      sock.close();
    }
  });

  it("a fixed host port that is taken gets a clear error", async () => {
    const s = net.createServer().listen(0, "127.0.0.1");
    await new Promise((r) => s.once("listening", r));
    const taken = (s.address() as AddressInfo).port;
    try {
      await expect(new GenericContainer("busybox").withCommand(["sleep", "60"]).withExposedPorts({ container: 80, host: taken }).start()).rejects.toMatchObject({ code: "TC_ERR_PORT_IN_USE" });
    } finally {
      s.close();
    }
  });

  it("Wait.forListeningPorts works on an image without a shell", async () => {
    // static-httpd holds one static binary and a page: no sh, no nc, nothing to exec
    await using c = await new GenericContainer("static-httpd").withExposedPorts(8080).withWaitStrategy(Wait.forListeningPorts()).start();
    expect((await c.exec(["sh", "-c", "true"])).exitCode).toBe(127);
    const body = await new Promise<string>((resolve, reject) =>
      http.get(`http://127.0.0.1:${c.getMappedPort(8080)}/`, (res) => res.setEncoding("utf8").on("data", resolve)).on("error", reject),
    );
    expect(body).toBe("static-httpd\n");
  });

  it("Wait.forHttp with a status predicate against busybox httpd", async () => {
    await using c = await new GenericContainer("busybox")
      .withCommand(["sh", "-c", "mkdir /w && echo ok > /w/health && httpd -f -p 80 -h /w"])
      .withExposedPorts(80)
      .withWaitStrategy(Wait.forHttp("/health", 80).forStatusCodeMatching((s) => s === 200).forResponsePredicate((b) => b.trim() === "ok"))
      .start();
    const body = await new Promise<string>((resolve, reject) =>
      http.get(`http://127.0.0.1:${c.getMappedPort(80)}/health`, (res) => res.setEncoding("utf8").on("data", resolve)).on("error", reject),
    );
    expect(body).toBe("ok\n");
  });
});

describe("container to host", () => {
  it("exposeHostPorts: a container fetches from a server on the host's loopback", async () => {
    const server = http.createServer((_, res) => res.end("from-the-host")).listen(0, "127.0.0.1");
    await new Promise((r) => server.once("listening", r));
    const port = (server.address() as AddressInfo).port;
    try {
      await TestContainers.exposeHostPorts(port);
      await using c = await new GenericContainer("redis:7").withEntrypoint(["sleep", "60"]).start();
      const get = `exec 3<>/dev/tcp/host.testcontainers.internal/${port}; printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3`;
      const r = await c.exec(["bash", "-c", get]);
      expect(r.stdout).toMatch(/^HTTP\/1\.[01] 200[\s\S]*from-the-host$/);
    } finally {
      server.close();
    }
  });
});
