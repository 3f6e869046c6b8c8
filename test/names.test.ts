// The one rule for each fact that many parts read: a DNS name (lib/net/dns-name.ts), HOST:PORT
// and IPv6 brackets (lib/net/address.ts), an Authorization: Bearer header (lib/wire/bearer.ts).
import { describe, expect, test } from "bun:test";
import { isLoopbackHost, splitHostPort, unbracket } from "../lib/net/address.ts";
import { dnsName, isDnsName, isMailDomain } from "../lib/net/dns-name.ts";
import { bearerToken, idAndSecret } from "../lib/wire/bearer.ts";

describe("a DNS name", () => {
  test("is lower-cased, loses one trailing dot, and may be a single label", () => {
    expect(["SSH.Example.COM.", " ssh.example.com ", "corp", "localhost", "a-b.x1.test", "xn--bcher-kva.test"].map(dnsName)).toEqual([
      "ssh.example.com",
      "ssh.example.com",
      "corp",
      "localhost",
      "a-b.x1.test",
      "xn--bcher-kva.test",
    ]);
    expect(dnsName(`${"a".repeat(63)}.test`)).toBe(`${"a".repeat(63)}.test`);
  });

  test("has no underscore, wildcard, IP address, empty label, edge hyphen, space or control character", () => {
    for (const bad of ["under_score.site.test", "*.site.test", "10.0.0.1", "a..b", ".a", "a.", "a..", "-a.test", "a-.test", "a b.test", "a\nb", "a/b", "x$(id).test", "::1", "[::1]", "", "."]) {
      expect({ bad, name: dnsName(bad) }).toEqual({ bad, name: bad === "a." ? "a" : undefined });
    }
    expect(dnsName(`${"a".repeat(64)}.test`)).toBeUndefined();
    expect(dnsName(Array(128).fill("a").join("."))).toBeUndefined(); // 255 characters
  });

  test("as it arrives from the network is one only in its normal form", () => {
    expect([isDnsName("ssh.site.test"), isDnsName("SSH.site.test"), isDnsName("ssh.site.test."), isDnsName("1.2.3.4")]).toEqual([true, false, false, false]);
  });

  test("as an e-mail address's domain has a dot", () => {
    expect(["example.com", "localhost", "Example.com", "a_b.com", "10.0.0.1"].map(isMailDomain)).toEqual([true, false, false, false, false]);
  });
});

describe("HOST:PORT", () => {
  test("takes names, IPv4, IPv6 in brackets and no host at all", () => {
    expect(["127.0.0.1:9090", "[::1]:22", "edge.example.com:443", ":8443", "[fe80::1%eth0]:80", "host:0"].map((r) => splitHostPort(r))).toEqual([
      { hostname: "127.0.0.1", port: 9090 },
      { hostname: "::1", port: 22 },
      { hostname: "edge.example.com", port: 443 },
      { hostname: "", port: 8443 },
      { hostname: "fe80::1%eth0", port: 80 },
      { hostname: "host", port: 0 },
    ]);
  });

  test("needs a port unless the caller has a default, and brackets around IPv6", () => {
    expect([splitHostPort("edge.example.com"), splitHostPort("edge.example.com", 443), splitHostPort("[::1]", 443)]).toEqual([undefined, { hostname: "edge.example.com", port: 443 }, { hostname: "::1", port: 443 }]);
    for (const bad of ["::1:9090", "[::1:9090", "::1]:9090", "host:65536", "host:port", "a b:1", "user@host:1", "host/x:1", "[host]:1", "host:1:2"]) {
      expect({ bad, parsed: splitHostPort(bad) }).toEqual({ bad, parsed: undefined });
    }
  });

  test("brackets come off an IPv6 address and nothing else", () => {
    expect([unbracket("[::1]"), unbracket("::1"), unbracket("edge.test"), unbracket("["), unbracket("[]")]).toEqual(["::1", "::1", "edge.test", "[", ""]);
    expect(["localhost", "127.0.0.1", "127.1.2.3", "[::1]", "::1", "localhost.evil.test", "128.0.0.1"].map(isLoopbackHost)).toEqual([true, true, true, true, false, false, false]);
  });
});

describe("Authorization: Bearer", () => {
  test("is read in any case, with spaces or tabs around the one credential", () => {
    expect(["Bearer abc.def", "bearer abc", "BEARER\tabc  ", "Bearer   eyJ.x.y"].map(bearerToken)).toEqual(["abc.def", "abc", "abc", "eyJ.x.y"]);
  });

  test("is no credential with two of them, another scheme, or nothing after it", () => {
    expect(["Bearer a b", "Basic YTpi", "Bearer", "Bearer ", "Bearerabc", "", null, undefined, "Bearer a\nb"].map(bearerToken)).toEqual(Array(9).fill(undefined));
  });

  test("splits <id>.<secret> at its first dot", () => {
    expect([idAndSecret("wtn_1.s3cr.et"), idAndSecret("wzc_1"), idAndSecret(".x"), idAndSecret(undefined)]).toEqual([{ id: "wtn_1", secret: "s3cr.et" }, undefined, undefined, undefined]);
  });
});
