#!/usr/bin/env node
// Run after `npm install` changes package-lock.json.
//
// The registry mirror these machines use lacks some other-platform builds
// (@deno/darwin-arm64@2.9.6, most @rollup/rollup-*), so `npm install` leaves
// them out of the lockfile, and `npm ci` then refuses it as out of sync. This
// adds each missing optional platform package with its os/cpu constraints, so
// `npm ci` skips it on Linux x64 exactly as it would with a complete lockfile.
import { readFileSync, writeFileSync } from "node:fs";

const file = new URL("../package-lock.json", import.meta.url);
const lock = JSON.parse(readFileSync(file, "utf8"));
const packages = lock.packages;

const OS = { darwin: "darwin", linux: "linux", win32: "win32", freebsd: "freebsd", openbsd: "openbsd", android: "android", openharmony: "openharmony" };
const CPU = { arm64: "arm64", x64: "x64", ia32: "ia32", arm: "arm", loong64: "loong64", ppc64: "ppc64", riscv64: "riscv64", s390x: "s390x" };

function platformOf(name) {
  const parts = name.split("/").pop().split("-");
  const os = parts.find((p) => p in OS);
  const cpu = parts.find((p) => p in CPU);
  const libc = parts.find((p) => p === "musl" || p === "glibc" || p === "gnu" || p === "gnueabihf" || p === "musleabihf");
  return { os, cpu, libc };
}

let added = 0;
for (const [path, meta] of Object.entries(packages)) {
  for (const [dep, version] of Object.entries(meta.optionalDependencies ?? {})) {
    const base = path === "" ? "" : `${path}/`;
    if (packages[`${base}node_modules/${dep}`] || packages[`node_modules/${dep}`]) continue;
    const { os, cpu, libc } = platformOf(dep);
    if (!os || !cpu) continue;
    const entry = { version, optional: true, os: [os], cpu: [cpu] };
    if (libc === "musl" || libc === "musleabihf") entry.libc = ["musl"];
    else if (libc) entry.libc = ["glibc"];
    if (os === "linux" && cpu === "x64" && !entry.libc?.includes("musl")) continue; // this machine's own build must really be there
    packages[`node_modules/${dep}`] = entry;
    added++;
  }
}
lock.packages = Object.fromEntries(Object.entries(packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a.localeCompare(b))));
writeFileSync(file, JSON.stringify(lock, null, 2) + "\n");
console.log(`complete-lockfile: added ${added} optional platform entries`);
