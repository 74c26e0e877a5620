/**
 * A throwaway CA and a leaf certificate for the node's DNS name, made with
 * `openssl` at data-plane start inside the (temporary) state directory.
 * ECDSA P-256 like the real Let's Encrypt certificates tailscaled fetches.
 *
 * @module
 */

/** Paths of the generated PEM files. */
export interface TlsMaterial {
  caFile: string;
  certFile: string;
  keyFile: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const { code, stderr } = await new Deno.Command("openssl", {
    args,
    cwd,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(stderr).trim()}`);
  }
}

/** Creates (or reuses, when present) the CA and the leaf for `dnsName` under `dir/tls`. */
export async function ensureTlsMaterial(dir: string, dnsName: string): Promise<TlsMaterial> {
  const tls = `${dir}/tls`;
  const m: TlsMaterial = {
    caFile: `${tls}/ca.pem`,
    certFile: `${tls}/leaf.pem`,
    keyFile: `${tls}/leaf.key`,
  };
  try {
    await Deno.stat(m.keyFile);
    return m;
  } catch {
    // generate below
  }
  await Deno.mkdir(tls, { recursive: true, mode: 0o700 });
  const ec = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
  await openssl(["genpkey", ...ec, "-out", "ca.key"], tls);
  await openssl([
    "req",
    "-x509",
    "-new",
    "-key",
    "ca.key",
    "-subj",
    "/CN=ecto tailscale-double test CA",
    "-days",
    "3",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
    "-out",
    "ca.pem",
  ], tls);
  await openssl(["genpkey", ...ec, "-out", "leaf.key"], tls);
  await openssl(
    ["req", "-new", "-key", "leaf.key", "-subj", `/CN=${dnsName}`, "-out", "leaf.csr"],
    tls,
  );
  await Deno.writeTextFile(
    `${tls}/leaf.ext`,
    [
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature",
      "extendedKeyUsage=serverAuth",
      `subjectAltName=DNS:${dnsName}`,
      "",
    ].join("\n"),
  );
  await openssl([
    "x509",
    "-req",
    "-in",
    "leaf.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    "leaf.ext",
    "-out",
    "leaf.pem",
  ], tls);
  await Deno.remove(`${tls}/ca.key`);
  return m;
}
