/**
 * A stub DNS resolver on 127.0.0.1 (UDP, `node:dgram`): answers A queries
 * for the names it is given, NXDOMAIN for anything else, and records every
 * question. Point `ECTO_DNS_SERVER` at it so "public DNS" never leaves the
 * machine.
 *
 * @module
 */
import dgram from "node:dgram";
import { Buffer } from "node:buffer";

/** A running stub. */
export interface DnsStub extends AsyncDisposable {
  /** `127.0.0.1:PORT`, the value for `ECTO_DNS_SERVER`. */
  server: string;
  /** Questions seen, as `TYPE name` (e.g. `A box.tail1234.ts.net`). */
  questions: string[];
}

const TYPES: Record<number, string> = { 1: "A", 28: "AAAA" };

/** Starts a stub answering `records` (name → IPv4 addresses) for A; no AAAA records. */
export async function startDnsStub(records: Record<string, string[]>): Promise<DnsStub> {
  const socket = dgram.createSocket("udp4");
  const questions: string[] = [];
  socket.on("message", (query: Buffer, peer: { port: number; address: string }) => {
    // Header (12 bytes), then one question: labels, a zero byte, type and class.
    let end = 12;
    const labels: string[] = [];
    while (end < query.length && query[end] !== 0) {
      labels.push(query.subarray(end + 1, end + 1 + query[end]!).toString("latin1"));
      end += query[end]! + 1;
    }
    const question = query.subarray(12, end + 5);
    const type = query.readUInt16BE(end + 1);
    const name = labels.join(".").toLowerCase();
    questions.push(`${TYPES[type] ?? type} ${name}`);
    const known = name in records;
    const addresses = type === 1 ? records[name] ?? [] : [];
    const header = Buffer.alloc(12);
    header.writeUInt16BE(query.readUInt16BE(0), 0); // id
    header.writeUInt16BE(0x8180 | (known ? 0 : 3), 2); // response, recursion; NXDOMAIN if unknown
    header.writeUInt16BE(1, 4); // one question
    header.writeUInt16BE(addresses.length, 6);
    const answers = addresses.map((address) => {
      const answer = Buffer.alloc(16);
      answer.writeUInt16BE(0xc00c, 0); // the name, by pointer to the question
      answer.writeUInt16BE(1, 2); // A
      answer.writeUInt16BE(1, 4); // IN
      answer.writeUInt32BE(60, 6); // TTL
      answer.writeUInt16BE(4, 10);
      address.split(".").forEach((octet, i) => answer.writeUInt8(Number(octet), 12 + i));
      return answer;
    });
    socket.send(Buffer.concat([header, question, ...answers]), peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
  return {
    server: `127.0.0.1:${socket.address().port}`,
    questions,
    [Symbol.asyncDispose]: (): Promise<void> =>
      new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
