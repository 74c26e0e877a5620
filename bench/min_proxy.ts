/**
 * A reference row for the benchmark (`BENCH_REFERENCE=0` drops it): the
 * smallest useful Deno reverse proxy, `Deno.serve` + the global `fetch` with
 * the body passed straight through, and the gateway token added. No key
 * check, no limits, no audit: the floor a Deno edge built on `fetch` starts from on this
 * machine.
 *
 * Usage: `BENCH_GATEWAY_TOKEN=… deno run --allow-net=127.0.0.1 --allow-env bench/min_proxy.ts <port> <upstream>`
 *
 * @module
 */
const [port, upstream] = Deno.args;
const token = Deno.env.get("BENCH_GATEWAY_TOKEN");
if (!port || !upstream || !token) {
  throw new Error("usage: BENCH_GATEWAY_TOKEN=… min_proxy.ts <port> <upstream>");
}
const authorization = `Bearer ${token}`;

const server = Deno.serve(
  { hostname: "127.0.0.1", port: Number(port), onListen: () => {} },
  async (request) => {
    const url = new URL(request.url);
    const headers = new Headers(request.headers);
    headers.set("authorization", authorization);
    headers.delete("host");
    const response = await fetch(`${upstream}${url.pathname}`, {
      method: request.method,
      headers,
      body: request.method === "POST" ? await request.arrayBuffer() : undefined,
      signal: request.signal,
    });
    return new Response(response.body, { status: response.status, headers: response.headers });
  },
);
Deno.addSignalListener("SIGTERM", () => {
  server.shutdown();
  setTimeout(() => Deno.exit(0), 200);
});
await server.finished;
