/**
 * The reference reverse proxies: nginx and caddy as plain loopback proxies in
 * front of the same upstream, each with its config in a temp dir.
 *
 * @module
 */
import { type BenchProcess, spawnLogged, waitForPort } from "./_proc.ts";

/**
 * nginx as a streaming reverse proxy: no buffering (SSE), HTTP/1.1 keepalive
 * to the upstream, no access log, everything under `dir`.
 */
export function renderNginxConf(
  dir: string,
  port: number,
  upstreamPort: number,
  root: boolean,
  workers: number | "auto" = "auto",
): string {
  return `# ecto bench: nginx as a plain reverse proxy
${root ? "user root;\n" : ""}daemon off;
master_process on;
worker_processes ${workers};
worker_rlimit_nofile 16384;
pid ${dir}/nginx-${port}.pid;
error_log ${dir}/nginx-error.log warn;

events {
    worker_connections 8192;
}

http {
    access_log off;
    client_body_temp_path ${dir}/client_body;
    proxy_temp_path ${dir}/proxy_temp;
    fastcgi_temp_path ${dir}/fastcgi_temp;
    uwsgi_temp_path ${dir}/uwsgi_temp;
    scgi_temp_path ${dir}/scgi_temp;

    upstream upstream_stub {
        server 127.0.0.1:${upstreamPort};
        keepalive 64;
    }

    server {
        listen 127.0.0.1:${port};
        location / {
            proxy_pass http://upstream_stub;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_buffering off;
            proxy_cache off;
            proxy_read_timeout 1h;
        }
    }
}
`;
}

/** caddy as a streaming reverse proxy: `flush_interval -1`, no admin API, no TLS. */
export function renderCaddyfile(dir: string, port: number, upstreamPort: number): string {
  return `# ecto bench: caddy as a plain reverse proxy
{
	admin off
	auto_https off
	storage file_system ${dir}/caddy-data
}

http://:${port} {
	bind 127.0.0.1
	reverse_proxy 127.0.0.1:${upstreamPort} {
		flush_interval -1
	}
}
`;
}

/** Starts nginx (master + `workers` workers) on `port`; resolves when it accepts connections. */
export async function startNginx(
  dir: string,
  port: number,
  upstreamPort: number,
  workers: number | "auto" = "auto",
): Promise<BenchProcess> {
  const conf = `${dir}/nginx-${port}.conf`;
  await Deno.writeTextFile(
    conf,
    renderNginxConf(dir, port, upstreamPort, Deno.uid() === 0, workers),
  );
  const proc = await spawnLogged(
    `nginx (${workers} workers)`,
    "nginx",
    ["-p", dir, "-c", conf, "-e", `${dir}/nginx-error.log`],
    { logFile: `${dir}/nginx-${port}.out.log` },
  );
  await waitForPort(port, proc);
  return proc;
}

/** Starts caddy on `port`; resolves when it accepts connections. */
export async function startCaddy(
  dir: string,
  port: number,
  upstreamPort: number,
): Promise<BenchProcess> {
  const file = `${dir}/Caddyfile`;
  await Deno.writeTextFile(file, renderCaddyfile(dir, port, upstreamPort));
  const proc = await spawnLogged("caddy", "caddy", [
    "run",
    "--config",
    file,
    "--adapter",
    "caddyfile",
  ], {
    logFile: `${dir}/caddy.log`,
    env: { HOME: dir, XDG_CONFIG_HOME: `${dir}/xdg-config`, XDG_DATA_HOME: `${dir}/xdg-data` },
  });
  await waitForPort(port, proc);
  return proc;
}
