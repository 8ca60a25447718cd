// sovmesh units: how every web page shows amounts and sizes. Money is shown
// in sats (the exact value in millisats goes in a title attribute, shown on
// hover); sizes in binary units (KiB, MiB, GiB, TiB); counts with k, M, G,
// T. Plain JavaScript, no dependencies.
"use strict";

const Units = (() => {
  const group = (n, digits) => n.toLocaleString("en-US", { maximumFractionDigits: digits });

  // sats shows an amount of millisats in sats: "0.04 sat", "12.5 sat",
  // "4,000 sat", "1.23M sat".
  function sats(msat) {
    msat = Number(msat) || 0;
    const s = msat / 1000;
    if (s >= 1e6) return compact(s) + " sat";
    return group(s, s >= 100 ? 0 : s >= 1 ? 2 : 3) + " sat";
  }
  // satsExact is the exact amount for the hover title.
  function satsExact(msat) {
    msat = Number(msat) || 0;
    return group(msat, 0) + " msat" + (msat >= 1000 ? " = " + group(msat / 1000, 3) + " sat" : "");
  }

  // compact writes a large count with k, M, G, T, three significant digits.
  function compact(n) {
    n = Number(n) || 0;
    const steps = [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]];
    for (const [v, s] of steps) if (n >= v) return group(Number((n / v).toPrecision(3)), 2) + s;
    return group(n, 2);
  }

  const IEC = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
  // bytes: "1 TiB", "2.9 MiB", "512 B".
  function bytes(n) {
    n = Number(n) || 0;
    let i = 0;
    while (n >= 1024 && i < IEC.length - 1) { n /= 1024; i++; }
    const digits = i === 0 || n >= 100 || Number.isInteger(n) ? 0 : n >= 10 ? 1 : n >= 1 ? 1 : 2;
    return group(Number(n.toFixed(digits)), digits) + " " + IEC[i];
  }
  function bytesExact(n) { return group(Number(n) || 0, 0) + " bytes"; }

  // The quantity unit of each resource (nips/offer.md): bandwidth in MiB,
  // storage in GiB, inference in tokens.
  const PER = { bandwidth: 1 << 20, storage: 1 << 30 };
  const NAME = { bandwidth: "MiB", storage: "GiB", inference: "tokens" };
  // quantity shows n units of resource: "1 TiB", "12k tokens".
  function quantity(resource, n) {
    n = Number(n) || 0;
    if (PER[resource]) return bytes(n * PER[resource]);
    return compact(n) + (resource === "inference" ? " tokens" : "");
  }
  function quantityExact(resource, n) { return group(Number(n) || 0, 0) + " " + (NAME[resource] || "units"); }

  // Price units (nips/offer.md) as shown after a slash.
  const UNIT = { "MiB": "MiB", "GiB-day": "GiB·day", "GiB-upload": "GiB in", "GiB-retrieval": "GiB out", "1M-input-tokens": "1M in", "1M-output-tokens": "1M out" };
  function unit(u) { return UNIT[u] || u; }

  function duration(sec) {
    sec = Math.max(0, Math.floor(Number(sec) || 0));
    const d = Math.floor(sec / 86400), h = Math.floor((sec % 86400) / 3600), m = Math.floor((sec % 3600) / 60);
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + m + "m";
    if (m) return m + "m";
    return sec + "s";
  }

  // span is a text element with the exact value as its title.
  function span(text, exact, cls) {
    const e = document.createElement("span");
    e.textContent = text;
    if (exact) e.title = exact;
    if (cls) e.className = cls;
    return e;
  }
  // show sets element e to text with the exact value as its title.
  function show(e, text, exact) {
    e.textContent = text;
    if (exact) e.title = exact; else e.removeAttribute("title");
  }

  return { sats, satsExact, compact, bytes, bytesExact, quantity, quantityExact, unit, duration, span, show };
})();
