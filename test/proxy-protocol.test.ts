// The PROXY protocol on its own: parser (v1, v2, TLVs, hostile input), encoder, IP ranges, options.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { connect as memoryConnect, listen as memoryListen } from "../adapters/memory.ts";
import { NetError } from "../src/errors.ts";
import { crc32c } from "../src/proxy-protocol/crc32c.ts";
import { encodeProxyHeader } from "../src/proxy-protocol/encode.ts";
import { formatIPv6, parseIPv4, parseIPv6 } from "../src/proxy-protocol/ip.ts";
import { checkProxyProtocolOptions } from "../src/proxy-protocol/options.ts";
import { ProxiedSocket, type HeaderOutcome } from "../src/proxy-protocol/proxied-socket.ts";
import { MAX_PROXY_V1_HEADER, MAX_PROXY_V2_HEADER, PROXY_V2_SIGNATURE, ProxyHeaderParser, type ProxyParseResult } from "../src/proxy-protocol/parse.ts";
import { TrustedPeers } from "../src/proxy-protocol/trusted.ts";
import type { ProxyHeaderOptions, ProxyInfo, ProxyTlv } from "../src/proxy-protocol/types.ts";
import type { RawHandlers, RawSocket } from "../src/transport.ts";
import type { SocketAddress } from "../src/address.ts";
import { concat, cut } from "./helpers/bytes.ts";
import { ManualClock, microtasks } from "./helpers/manual-clock.ts";

const RUNS = { numRuns: 200 };
const ascii = new TextEncoder();

function parseAll(chunks: readonly Uint8Array[]): ProxyParseResult {
  const parser = new ProxyHeaderParser();
  let result: ProxyParseResult = { status: "more" };
  for (const chunk of chunks) {
    result = parser.push(chunk);
    if (result.status !== "more") break;
  }
  return result;
}

/** Parses a stream: the header, and every byte after it (the rest of its chunk, then the chunks not fed). */
function parseStream(chunks: readonly Uint8Array[]): { result: ProxyParseResult; after: Uint8Array } {
  const parser = new ProxyHeaderParser();
  for (const [i, chunk] of chunks.entries()) {
    const result = parser.push(chunk);
    if (result.status === "header") return { result, after: concat([result.rest, ...chunks.slice(i + 1)]) };
    if (result.status !== "more") return { result, after: new Uint8Array(0) };
  }
  return { result: { status: "more" }, after: new Uint8Array(0) };
}

function header(result: ProxyParseResult) {
  if (result.status !== "header") throw new Error(`expected a header, got ${JSON.stringify(result)}`);
  return result;
}

function reason(result: ProxyParseResult): string {
  if (result.status !== "invalid") throw new Error(`expected invalid, got ${result.status}`);
  return result.reason;
}


function v2(verCmd: number, family: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(16 + body.length);
  out.set(PROXY_V2_SIGNATURE);
  out[12] = verCmd;
  out[13] = family;
  out[14] = body.length >> 8;
  out[15] = body.length & 0xff;
  out.set(body, 16);
  return out;
}

function tlv(type: number, value: Uint8Array): Uint8Array {
  return concat([Uint8Array.of(type, value.length >> 8, value.length & 0xff), value]);
}

const TCP4_BLOCK = Uint8Array.of(203, 0, 113, 9, 10, 0, 0, 1, 0xc7, 0x38, 0x01, 0xbb); // 51000 -> 443

describe("PROXY v1", () => {
  it("parses TCP4 and keeps the bytes after the header", () => {
    const r = header(parseAll([ascii.encode("PROXY TCP4 203.0.113.9 10.0.0.1 51000 443\r\nGET / HTTP/1.1\r\n")]));
    expect(r.header).toMatchObject({ version: 1, command: "PROXY", protocol: "TCP4" });
    expect(r.header.source).toEqual({ transport: "tcp", hostname: "203.0.113.9", port: 51000, family: "IPv4" });
    expect(r.header.destination).toEqual({ transport: "tcp", hostname: "10.0.0.1", port: 443, family: "IPv4" });
    expect(new TextDecoder().decode(r.rest)).toBe("GET / HTTP/1.1\r\n");
  });

  it("parses TCP6 into canonical addresses", () => {
    const r = header(parseAll([ascii.encode("PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::1 1 65535\r\n")]));
    expect(r.header.source).toEqual({ transport: "tcp", hostname: "2001:db8::1", port: 1, family: "IPv6" });
    expect(r.header.destination).toMatchObject({ hostname: "::1", port: 65535 });
  });

  it("parses UNKNOWN, ignoring what follows it, with no addresses", () => {
    const r = header(parseAll([ascii.encode("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\nX")]));
    expect(r.header).toMatchObject({ version: 1, command: "PROXY", protocol: "UNKNOWN", source: undefined, destination: undefined });
    expect([...r.rest]).toEqual([0x58]);
  });

  it.each([
    ["PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", "expected 5 fields"],
    ["PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", "expected 5 fields"],
    ["PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", "not an IPv4 address"],
    ["PROXY TCP4 ::1 ::1 1 2\r\n", "not an IPv4 address"],
    ["PROXY TCP6 1.2.3.4 ::1 1 2\r\n", "not an IPv6 address"],
    ["PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "not a port"],
    ["PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n", "not a port"],
    ["PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", "not a port"],
    ["PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", "unknown protocol"],
    ["PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "unexpected byte 0x0a"],
    ["PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n", "CR not followed by LF"],
    ["PROXY TCP4 1.2.3.4 5.6.7.8 1 2\0\r\n", "unexpected byte 0x00"],
  ])("refuses %j", (text, why) => {
    expect(reason(parseAll([ascii.encode(text)]))).toContain(why);
  });

  it("refuses a line longer than 107 bytes as soon as the 107th byte has no CRLF", () => {
    const parser = new ProxyHeaderParser();
    const line = ascii.encode(`PROXY TCP4 ${"1".repeat(200)}`);
    let result: ProxyParseResult = { status: "more" };
    let fed = 0;
    while (result.status === "more") result = parser.push(line.subarray(fed, ++fed));
    expect(fed).toBe(MAX_PROXY_V1_HEADER);
    expect(reason(result)).toContain("no CRLF within 107 bytes");
  });

  it("accepts the longest legal line (TCP6 with full addresses, 104 bytes)", () => {
    const full = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    const text = `PROXY TCP6 ${full} ${full} 65535 65535\r\n`;
    expect(text.length).toBe(104);
    expect(header(parseAll([ascii.encode(text)])).header.source).toMatchObject({ hostname: full, port: 65535 });
  });
});

describe("PROXY v2", () => {
  it("parses TCP4 with the bytes after it", () => {
    const bytes = concat([v2(0x21, 0x11, TCP4_BLOCK), ascii.encode("hello")]);
    const r = header(parseAll([bytes]));
    expect(r.header).toMatchObject({ version: 2, command: "PROXY", protocol: "TCP4" });
    expect(r.header.source).toEqual({ transport: "tcp", hostname: "203.0.113.9", port: 51000, family: "IPv4" });
    expect(r.header.destination).toEqual({ transport: "tcp", hostname: "10.0.0.1", port: 443, family: "IPv4" });
    expect(r.header.tlvs.all).toEqual([]);
    expect(new TextDecoder().decode(r.rest)).toBe("hello");
  });

  it("parses TCP6, UDP4 and UNIX stream addresses", () => {
    const six = new Uint8Array(36);
    six[15] = 1; // ::1
    six.set([0x20, 0x01, 0x0d, 0xb8], 16); // 2001:db8::
    six[33] = 80;
    six[35] = 81;
    const r6 = header(parseAll([v2(0x21, 0x21, six)]));
    expect(r6.header.protocol).toBe("TCP6");
    expect(r6.header.source).toEqual({ transport: "tcp", hostname: "::1", port: 80, family: "IPv6" });
    expect(r6.header.destination).toMatchObject({ hostname: "2001:db8::", port: 81 });
    expect(header(parseAll([v2(0x21, 0x12, TCP4_BLOCK)])).header.protocol).toBe("UDP4");
    const unix = new Uint8Array(216);
    unix.set(ascii.encode("/run/client.sock"), 0);
    unix.set(ascii.encode("/run/server.sock"), 108);
    const ru = header(parseAll([v2(0x21, 0x31, unix)]));
    expect(ru.header.protocol).toBe("UNIX_STREAM");
    expect(ru.header.source).toEqual({ transport: "unix", path: "/run/client.sock" });
    expect(ru.header.destination).toEqual({ transport: "unix", path: "/run/server.sock" });
  });

  it("LOCAL skips its address block and carries no addresses", () => {
    const r = header(parseAll([concat([v2(0x20, 0x11, TCP4_BLOCK), Uint8Array.of(7)])]));
    expect(r.header).toMatchObject({ version: 2, command: "LOCAL", source: undefined, destination: undefined });
    expect([...r.rest]).toEqual([7]);
  });

  it("UNSPEC family or transport: a relayed connection with unknown addresses", () => {
    expect(header(parseAll([v2(0x21, 0x00, new Uint8Array(0))])).header).toMatchObject({ command: "PROXY", protocol: "UNKNOWN", source: undefined });
    expect(header(parseAll([v2(0x21, 0x10, TCP4_BLOCK)])).header).toMatchObject({ protocol: "UNKNOWN", source: undefined });
  });

  it("decodes ALPN, authority, unique id, SSL, NETNS and keeps unknown TLVs", () => {
    const ssl = concat([
      Uint8Array.of(0x07, 0, 0, 0, 0),
      tlv(0x21, ascii.encode("TLSv1.3")),
      tlv(0x22, ascii.encode("client.example")),
      tlv(0x23, ascii.encode("TLS_AES_128_GCM_SHA256")),
      tlv(0x24, ascii.encode("SHA256")),
      tlv(0x25, ascii.encode("RSA2048")),
    ]);
    const body = concat([
      TCP4_BLOCK,
      tlv(0x01, ascii.encode("h2")),
      tlv(0x02, ascii.encode("api.example.com")),
      tlv(0x04, new Uint8Array(3)),
      tlv(0x05, Uint8Array.of(1, 2, 3)),
      tlv(0x20, ssl),
      tlv(0x30, ascii.encode("blue")),
      tlv(0xe0, Uint8Array.of(9)),
    ]);
    const { tlvs } = header(parseAll([v2(0x21, 0x11, body)])).header;
    expect(tlvs.alpn).toBe("h2");
    expect(tlvs.authority).toBe("api.example.com");
    expect([...tlvs.uniqueId!]).toEqual([1, 2, 3]);
    expect(tlvs.netns).toBe("blue");
    expect(tlvs.ssl).toEqual({
      client: 7,
      ssl: true,
      certInConnection: true,
      certInSession: true,
      verified: true,
      version: "TLSv1.3",
      commonName: "client.example",
      cipher: "TLS_AES_128_GCM_SHA256",
      signatureAlgorithm: "SHA256",
      keyAlgorithm: "RSA2048",
    });
    expect(tlvs.all.map((t) => t.type)).toEqual([0x01, 0x02, 0x04, 0x05, 0x20, 0x30, 0xe0]);
    expect([...tlvs.all[6]!.value]).toEqual([9]);
  });

  it("an SSL TLV with a non-zero verify result is not verified", () => {
    const body = concat([TCP4_BLOCK, tlv(0x20, Uint8Array.of(0x01, 0, 0, 0, 1))]);
    expect(header(parseAll([v2(0x21, 0x11, body)])).header.tlvs.ssl).toMatchObject({ ssl: true, certInConnection: false, verified: false });
  });

  it("checks a CRC32C TLV against the header", () => {
    const good = encodeProxyHeader({ version: 2, source: { hostname: "1.2.3.4", port: 1 }, destination: { hostname: "5.6.7.8", port: 2 }, crc32c: true });
    expect(header(parseAll([good])).header.tlvs.all.map((t) => t.type)).toEqual([0x03]);
    const bad = good.slice();
    bad[16] ^= 1; // the source address changed in transit
    expect(reason(parseAll([bad]))).toContain("CRC32C checksum mismatch");
  });

  it.each([
    ["version 1", v2(0x11, 0x11, TCP4_BLOCK), "version 1, expected 2"],
    ["command 2", v2(0x22, 0x11, TCP4_BLOCK), "unknown command 2"],
    ["family 4", v2(0x21, 0x41, TCP4_BLOCK), "unknown address family 4"],
    ["transport 3", v2(0x21, 0x13, TCP4_BLOCK), "unknown transport protocol 3"],
    ["short address block", v2(0x21, 0x21, TCP4_BLOCK), "cannot hold a 36-byte address block"],
    ["truncated TLV header", v2(0x21, 0x11, concat([TCP4_BLOCK, Uint8Array.of(1, 0)])), "truncated TLV header"],
    ["TLV longer than the header", v2(0x21, 0x11, concat([TCP4_BLOCK, Uint8Array.of(1, 0, 9, 65)])), "claims 9 bytes, only 1 left"],
    ["unique id over 128 bytes", v2(0x21, 0x11, concat([TCP4_BLOCK, tlv(0x05, new Uint8Array(129))])), "at most 128"],
    ["SSL TLV under 5 bytes", v2(0x21, 0x11, concat([TCP4_BLOCK, tlv(0x20, new Uint8Array(4))])), "at least 5 expected"],
    ["truncated SSL sub-TLV", v2(0x21, 0x11, concat([TCP4_BLOCK, tlv(0x20, Uint8Array.of(1, 0, 0, 0, 0, 0x21, 0, 5))])), "SSL TLV: TLV 0x21 claims 5"],
    ["CRC32C of 3 bytes", v2(0x21, 0x11, concat([TCP4_BLOCK, tlv(0x03, new Uint8Array(3))])), "expected 4"],
  ])("refuses %s", (_name, bytes, why) => {
    expect(reason(parseAll([bytes]))).toContain(why);
  });

  it("a huge declared length is awaited, never over-read, and bounded by 16 + 65535", () => {
    const head = v2(0x21, 0x11, new Uint8Array(0));
    head[14] = 0xff;
    head[15] = 0xff;
    const parser = new ProxyHeaderParser();
    expect(parser.push(head).status).toBe("more");
    // Addresses then one TLV filling the declared length exactly.
    const body = concat([TCP4_BLOCK, tlv(0xe1, new Uint8Array(0xffff - 12 - 3))]);
    for (let at = 0; at < body.length - 1; at += 4096) expect(parser.push(body.subarray(at, Math.min(at + 4096, body.length - 1))).status).toBe("more");
    expect(parser.received).toBe(MAX_PROXY_V2_HEADER - 1);
    const r = header(parser.push(concat([body.subarray(body.length - 1), Uint8Array.of(42)])));
    expect(r.header.tlvs.all[0]!.value.length).toBe(0xffff - 15);
    expect([...r.rest]).toEqual([42]);
  });
});

describe("detection", () => {
  it("bytes that cannot start a header are absent, returned untouched, as soon as they differ", () => {
    const parser = new ProxyHeaderParser();
    expect(parser.push(ascii.encode("PRO")).status).toBe("more");
    const r = parser.push(ascii.encode("FIND x"));
    expect(r).toEqual({ status: "absent", data: ascii.encode("PROFIND x") });
    expect(parseAll([ascii.encode("GET /")])).toEqual({ status: "absent", data: ascii.encode("GET /") });
    expect(parseAll([Uint8Array.of(0x16, 3, 1)]).status).toBe("absent"); // a TLS ClientHello
    expect(parseAll([PROXY_V2_SIGNATURE.subarray(0, 11), Uint8Array.of(0)]).status).toBe("absent");
  });

  it("after a final result, push() throws", () => {
    const parser = new ProxyHeaderParser();
    parser.push(ascii.encode("GET"));
    expect(() => parser.push(ascii.encode("x"))).toThrow(/after a final result/);
  });

  it("every proper prefix of a header asks for more", () => {
    for (const whole of [
      ascii.encode("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"),
      encodeProxyHeader({ version: 2, source: { hostname: "::1", port: 1 }, destination: { hostname: "::2", port: 2 }, tlvs: [{ type: 0xe0, value: new Uint8Array(40) }], crc32c: true }),
    ]) {
      for (let n = 0; n < whole.length; n++) expect(parseAll([whole.subarray(0, n)]).status).toBe("more");
      expect(parseAll([whole]).status).toBe("header");
    }
  });
});

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((b) => b.join("."));
const ipv6 = fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 }).map((w) => formatIPv6(Uint8Array.from(w.flatMap((x) => [x >> 8, x & 0xff]))));
const port = fc.nat(0xffff);
const headerOptions: fc.Arbitrary<ProxyHeaderOptions> = fc.oneof(
  fc.record({ version: fc.constantFrom(1 as const, 2 as const), source: fc.record({ hostname: ipv4, port }), destination: fc.record({ hostname: ipv4, port }) }),
  fc.record({ version: fc.constantFrom(1 as const, 2 as const), source: fc.record({ hostname: ipv6, port }), destination: fc.record({ hostname: ipv6, port }) }),
  fc.record({
    version: fc.constant(2 as const),
    source: fc.record({ hostname: ipv4, port }),
    destination: fc.record({ hostname: ipv4, port }),
    tlvs: fc.array(fc.record({ type: fc.constantFrom(0x01, 0x02, 0x04, 0x30, 0xe0, 0xee), value: fc.uint8Array({ maxLength: 300 }) }), { maxLength: 4 }),
    crc32c: fc.boolean(),
  }),
  fc.constant({ version: 2 as const, command: "LOCAL" as const }),
);

describe("PROXY protocol properties", () => {
  it("encode, then parse at random cuts: the same header, and the bytes after it intact", () => {
    fc.assert(
      fc.property(headerOptions, fc.uint8Array({ maxLength: 200 }), fc.array(fc.nat({ max: 2000 }), { maxLength: 20 }), (options, after, points) => {
        const bytes = concat([encodeProxyHeader(options), after]);
        const stream = parseStream(cut(bytes, points));
        const r = header(stream.result);
        expect(r.header.version).toBe(options.version);
        if (options.command === "LOCAL") {
          expect(r.header.command).toBe("LOCAL");
        } else {
          expect(r.header.source).toMatchObject(options.source!);
          expect(r.header.destination).toMatchObject(options.destination!);
          const sent: readonly ProxyTlv[] = options.tlvs ?? [];
          expect(r.header.tlvs.all.filter((t) => t.type !== 0x03)).toEqual(sent.map((t) => ({ type: t.type, value: t.value })));
        }
        expect(stream.after).toEqual(after);
      }),
      RUNS,
    );
  });

  it("one byte at a time gives the same result as one chunk", () => {
    fc.assert(
      fc.property(headerOptions, fc.uint8Array({ maxLength: 20 }), (options, after) => {
        const bytes = concat([encodeProxyHeader(options), after]);
        const whole = parseAll([bytes]);
        const bytewise = parseAll(Array.from(bytes, (b) => Uint8Array.of(b)));
        expect(bytewise.status).toBe("header");
        // One byte at a time, the header ends before the bytes after it arrive.
        expect({ ...bytewise, rest: undefined }).toEqual({ ...whole, rest: undefined });
      }),
      RUNS,
    );
  });

  it("garbage never throws, and the parser never holds more than a header's bound", () => {
    const prefixes = fc.constantFrom(new Uint8Array(0), ascii.encode("PROXY "), ascii.encode("PROXY TCP4 "), PROXY_V2_SIGNATURE, concat([PROXY_V2_SIGNATURE, Uint8Array.of(0x21, 0x11)]));
    fc.assert(
      fc.property(prefixes, fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 30 }), (prefix, chunks) => {
        const parser = new ProxyHeaderParser();
        for (const chunk of [prefix, ...chunks]) {
          const before = parser.received;
          const r = parser.push(chunk);
          if (r.status !== "more") return;
          expect(before + chunk.length).toBeLessThanOrEqual(MAX_PROXY_V2_HEADER);
          expect(parser.received).toBeLessThan(MAX_PROXY_V2_HEADER);
        }
      }),
      RUNS,
    );
  });

  it("random single-byte corruption of a valid header never throws", () => {
    fc.assert(
      fc.property(headerOptions, fc.nat(), fc.nat(255), (options, at, value) => {
        const bytes = encodeProxyHeader(options).slice();
        bytes[at % bytes.length] = value;
        const parser = new ProxyHeaderParser();
        const r = parser.push(bytes);
        expect(["more", "header", "absent", "invalid"]).toContain(r.status);
      }),
      RUNS,
    );
  });
});

describe("encodeProxyHeader", () => {
  it("writes v1 lines and LOCAL as UNKNOWN", () => {
    const text = (o: ProxyHeaderOptions) => new TextDecoder().decode(encodeProxyHeader(o));
    expect(text({ version: 1, source: { hostname: "::FFFF:1.2.3.4", port: 1 }, destination: { hostname: "::1", port: 2 } })).toBe("PROXY TCP6 ::ffff:1.2.3.4 ::1 1 2\r\n");
    expect(text({ version: 1, command: "LOCAL" })).toBe("PROXY UNKNOWN\r\n");
  });

  it("writes a v2 UNIX header", () => {
    const r = header(parseAll([encodeProxyHeader({ version: 2, source: { path: "/a" }, destination: { path: "/b" } })]));
    expect(r.header).toMatchObject({ protocol: "UNIX_STREAM", source: { transport: "unix", path: "/a" }, destination: { path: "/b" } });
  });

  it.each<[string, unknown]>([
    ["version 3", { version: 3 }],
    ["an unknown key", { version: 1, sauce: 1 }],
    ["a host name", { version: 1, source: { hostname: "example.com", port: 1 }, destination: { hostname: "1.2.3.4", port: 1 } }],
    ["a port out of range", { version: 2, source: { hostname: "1.2.3.4", port: 65536 }, destination: { hostname: "1.2.3.4", port: 1 } }],
    ["mixed families", { version: 2, source: { hostname: "1.2.3.4", port: 1 }, destination: { hostname: "::1", port: 1 } }],
    ["no destination", { version: 2, source: { hostname: "1.2.3.4", port: 1 } }],
    ["Unix paths in v1", { version: 1, source: { path: "/a" }, destination: { path: "/b" } }],
    ["TLVs in v1", { version: 1, command: "LOCAL", tlvs: [] }],
    ["a CRC TLV by hand", { version: 2, command: "LOCAL", tlvs: [{ type: 3, value: new Uint8Array(4) }] }],
    ["addresses with LOCAL", { version: 2, command: "LOCAL", source: { hostname: "1.2.3.4", port: 1 } }],
    ["TLVs over 65535 bytes", { version: 2, command: "LOCAL", tlvs: [{ type: 0xe0, value: new Uint8Array(65535) }] }],
  ])("refuses %s with ERR_INVALID_OPTION", (_name, options) => {
    let error: unknown;
    try {
      encodeProxyHeader(options as ProxyHeaderOptions);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(NetError);
    expect((error as NetError).code).toBe("ERR_INVALID_OPTION");
  });
});

describe("IP literals and trusted ranges", () => {
  it("parses and formats IPv6 as RFC 5952 says", () => {
    const cases: [string, string][] = [
      ["::", "::"],
      ["::1", "::1"],
      ["2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
      ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
      ["::ffff:192.0.2.1", "::ffff:192.0.2.1"],
      ["64:ff9b::192.0.2.33", "64:ff9b::c000:221"],
      ["1::", "1::"],
    ];
    for (const [input, canonical] of cases) expect(formatIPv6(parseIPv6(input)!)).toBe(canonical);
    for (const bad of ["", ":", ":::", "1:::2", "1::2::3", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "12345::", "1.2.3.4::", "::1.2.3", "fe80::1%eth0", "g::"]) {
      expect(parseIPv6(bad), bad).toBeUndefined();
    }
    for (const bad of ["1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.-4", " 1.2.3.4", "1.2.3.4a"]) expect(parseIPv4(bad), bad).toBeUndefined();
  });

  it("matches addresses and CIDR ranges, IPv4-mapped peers included", () => {
    const trusted = new TrustedPeers(["10.0.0.0/8", "192.168.1.7", "fd00::/8", "2001:db8::1/128", "172.16.0.0/12"]);
    const peer = (hostname: string) => ({ transport: "tcp" as const, hostname, port: 1, family: (hostname.includes(":") ? "IPv6" : "IPv4") as "IPv4" | "IPv6" });
    for (const yes of ["10.255.0.1", "192.168.1.7", "fd12::3", "2001:db8::1", "::ffff:10.1.2.3", "172.31.255.255"]) expect(trusted.has(peer(yes)), yes).toBe(true);
    for (const no of ["11.0.0.1", "192.168.1.8", "fe00::1", "2001:db8::2", "::ffff:11.0.0.1", "172.32.0.0", "::a00:1"]) expect(trusted.has(peer(no)), no).toBe(false);
    expect(trusted.has({ transport: "unix", path: "/x" })).toBe(false);
    expect(trusted.has(undefined)).toBe(false);
    expect(new TrustedPeers(["0.0.0.0/0"]).has(peer("8.8.8.8"))).toBe(true);
    expect(new TrustedPeers(["::ffff:10.0.0.0/104"]).has(peer("10.9.9.9"))).toBe(true);
  });

  it.each(["10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/08", "example.com", "10.0.0.0/8/8", ""])("refuses the trusted entry %j", (entry) => {
    expect(() => new TrustedPeers([entry])).toThrow(/proxyProtocol\.trusted\[0\]/);
  });

  it("crc32c has the Castagnoli check value", () => {
    expect(crc32c(ascii.encode("123456789")).toString(16)).toBe("e3069283");
  });
});

describe("proxyProtocol options", () => {
  it("defaults, and refusals with ERR_INVALID_OPTION", () => {
    expect(checkProxyProtocolOptions(undefined, "tcp")).toBeUndefined();
    expect(checkProxyProtocolOptions(true, "tcp")).toEqual({ trusted: undefined, optional: false, timeout: 5000 });
    expect(checkProxyProtocolOptions({ optional: true, timeout: Infinity }, "unix")).toMatchObject({ optional: true, timeout: 0 });
    for (const [bad, transport] of [[{ trusts: [] }, "tcp"], [{ optional: "yes" }, "tcp"], [{ timeout: -1 }, "tcp"], [{ trusted: "10.0.0.0/8" }, "tcp"], [{ trusted: ["::1"] }, "unix"], ["on", "tcp"], [null, "tcp"]] as const) {
      expect(() => checkProxyProtocolOptions(bad, transport), JSON.stringify(bad)).toThrow(expect.objectContaining({ code: "ERR_INVALID_OPTION" }));
    }
  });
});

/** A raw socket the test drives by hand: `emit` plays the adapter. */
class FakeRaw {
  handlers: RawHandlers | undefined;
  paused = false;
  destroyed = false;
  readonly recycled: Uint8Array[] = [];
  readonly remoteAddress: SocketAddress = { transport: "tcp", hostname: "127.0.0.1", port: 4000, family: "IPv4" };
  readonly localAddress: SocketAddress = { transport: "tcp", hostname: "127.0.0.1", port: 80, family: "IPv4" };
  readonly bufferedAmount = 0;
  start(handlers: RawHandlers): void {
    this.handlers = handlers;
  }
  write(): boolean {
    return true;
  }
  end(): void {}
  close(): void {}
  destroy(): void {
    this.destroyed = true;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  setNoDelay(): void {}
  setKeepAlive(): void {}
  recycle(chunk: Uint8Array): void {
    this.recycled.push(chunk);
  }
}

/** What a consumer of the ProxiedSocket received, in order. */
function consumer(): { handlers: RawHandlers; log: string[] } {
  const log: string[] = [];
  return {
    log,
    handlers: {
      onData: (c) => log.push(`data:${new TextDecoder().decode(c)}`),
      onEnd: () => log.push("end"),
      onDrain: () => log.push("drain"),
      onClose: (e) => log.push(`close:${e?.code ?? ""}`),
    },
  };
}

describe("ProxiedSocket", () => {
  function setup(wait: Partial<{ optional: boolean; headerAllowed: boolean; timeout: number }> = {}) {
    const raw = new FakeRaw();
    const clock = new ManualClock();
    const outcomes: HeaderOutcome[] = [];
    const socket = new ProxiedSocket(raw as unknown as RawSocket, { optional: false, headerAllowed: true, timeout: 1000, clock, label: "peer", ...wait }, (o) => outcomes.push(o));
    socket.readHeader();
    return { raw, clock, outcomes, socket };
  }

  it("holds the bytes after the header until started and resumed, then delivers them first, in order", async () => {
    const { raw, outcomes, socket } = setup();
    raw.handlers!.onData(ascii.encode("PROXY TCP4 1.2.3.4 5.6.7.8 9 10\r\nfirst"));
    expect(outcomes.map((o) => o.kind)).toEqual(["ready"]);
    expect(raw.paused).toBe(true); // nothing more is read until someone starts it
    expect(socket.remoteAddress).toMatchObject({ hostname: "1.2.3.4", port: 9 });
    expect(socket.localAddress).toMatchObject({ hostname: "5.6.7.8", port: 10 });
    expect(socket.proxy?.via).toBe(raw.remoteAddress);
    const { handlers, log } = consumer();
    socket.pause();
    socket.start(handlers);
    raw.handlers!.onData(ascii.encode("second"));
    raw.handlers!.onEnd();
    await microtasks();
    expect(log).toEqual([]);
    socket.resume();
    expect(log).toEqual([]); // never inside resume()
    await microtasks();
    expect(log).toEqual(["data:first", "data:second", "end"]);
    raw.handlers!.onClose(undefined);
    expect(log).toEqual(["data:first", "data:second", "end", "close:"]);
    // Chunks the adapter lent are given back; the copy made here is not.
    const lent = ascii.encode("x");
    socket.recycle!(lent);
    expect(raw.recycled).toContain(lent);
  });

  it("a failure reaches a paused consumer", async () => {
    const { raw, socket } = setup();
    raw.handlers!.onData(ascii.encode("PROXY UNKNOWN\r\nheld"));
    const { handlers, log } = consumer();
    socket.start(handlers);
    socket.pause();
    raw.handlers!.onClose(new NetError("ECONNRESET", "reset"));
    expect(log).toEqual(["close:ECONNRESET"]);
    await microtasks();
    expect(log).toEqual(["close:ECONNRESET"]);
    expect(socket.remoteAddress).toBe(raw.remoteAddress); // UNKNOWN keeps the socket's addresses
  });

  it("times out on the clock: refused, or with optional served with what came", async () => {
    const strict = setup();
    strict.raw.handlers!.onData(ascii.encode("PROX"));
    await strict.clock.advance(999);
    expect(strict.outcomes).toEqual([]);
    await strict.clock.advance(1);
    expect(strict.outcomes).toMatchObject([{ kind: "failed", error: { code: "ERR_PROXY_PROTOCOL" } }]);
    expect(strict.raw.destroyed).toBe(true);

    const lenient = setup({ optional: true });
    lenient.raw.handlers!.onData(ascii.encode("PROX"));
    await lenient.clock.advance(1000);
    expect(lenient.outcomes.map((o) => o.kind)).toEqual(["ready"]);
    const { handlers, log } = consumer();
    lenient.socket.start(handlers);
    await microtasks();
    expect(log).toEqual(["data:PROX"]);
    expect(lenient.socket.proxy).toBeUndefined();
  });

  it("a peer that leaves silently is gone; one that leaves mid-header failed; the timer is cleared", async () => {
    const silent = setup();
    silent.raw.handlers!.onEnd();
    expect(silent.outcomes).toEqual([{ kind: "gone" }]);
    expect(silent.clock.pendingTimers).toBe(0);
    const partial = setup();
    partial.raw.handlers!.onData(ascii.encode("PROXY TCP4"));
    partial.raw.handlers!.onClose(undefined);
    expect(partial.outcomes).toMatchObject([{ kind: "failed", error: { code: "ERR_PROXY_PROTOCOL" } }]);
    expect(partial.clock.pendingTimers).toBe(0);
  });

  it("abort() destroys the socket and reports nothing", () => {
    const { raw, outcomes, socket, clock } = setup();
    socket.abort(new NetError("ABORT_ERR", "stopping"));
    expect(raw.destroyed).toBe(true);
    expect(clock.pendingTimers).toBe(0);
    raw.handlers!.onData(ascii.encode("PROXY UNKNOWN\r\n"));
    expect(outcomes).toEqual([]);
  });

  it("start() before the header is an error", () => {
    const { socket } = setup();
    expect(() => socket.start(consumer().handlers)).toThrow(/before its header/);
  });
});

describe("proxyProtocol over the memory transport", () => {
  it("a client's v2 header reaches the server's conn.proxy, and data follows intact", async () => {
    let seen: { remote: SocketAddress | undefined; proxy: ProxyInfo | undefined; data: string } | undefined;
    const server = await memoryListen({ port: 0, proxyProtocol: true }, async (conn) => {
      let data = "";
      for await (const chunk of conn) data += new TextDecoder().decode(chunk);
      seen = { remote: conn.remoteAddress, proxy: conn.proxy, data };
    });
    const port = (server.address as { port: number }).port;
    const conn = await memoryConnect({ hostname: "127.0.0.1", port }, { proxyHeader: { version: 2, source: { hostname: "192.0.2.1", port: 7 }, destination: { hostname: "192.0.2.2", port: 8 } } });
    await conn.write("after");
    await conn.close();
    const stats = await server.close({ timeout: 1000 });
    expect(stats.totalConnections).toBe(1);
    expect(seen?.remote).toEqual({ transport: "tcp", hostname: "192.0.2.1", port: 7, family: "IPv4" });
    expect(seen?.proxy).toMatchObject({ version: 2, command: "PROXY", destination: { hostname: "192.0.2.2", port: 8 } });
    expect(seen?.data).toBe("after");
  });
});
