// sovmesh web: shared code for the offer browser, provider pages and the
// operator dashboard. Plain JavaScript, no dependencies, nothing loaded from
// other hosts. Every string from an event goes into the DOM as text.
"use strict";

const SM = (() => {
  const KIND = { deletion: 5, bid: 8460, match: 8461, receipt: 8462, attestation: 8463, presence: 18460, offer: 38460 };
  const HEX64 = /^[0-9a-f]{64}$/;

  // el builds an element: el("td", {class: "x"}, "text", child...).
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") e.textContent = v;
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children) {
      if (c === undefined || c === null) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  // label names each cell of a table's body after its column's header, for
  // the phone layout (style.css: table.stack), which stacks the cells.
  function label(table) {
    const names = [...table.querySelectorAll("thead th")].map((th) => th.textContent);
    for (const tr of table.querySelectorAll("tbody tr")) [...tr.cells].forEach((td, i) => { td.dataset.label = names[i] || ""; });
  }

  function tag(evt, name) {
    for (const t of evt.tags || []) if (t[0] === name && t.length > 1) return t[1];
    return "";
  }
  function tags(evt, name) { return (evt.tags || []).filter((t) => t[0] === name && t.length > 1); }
  function longest(evt, name) {
    let best = "";
    for (const t of tags(evt, name)) if (t[1].length > best.length) best = t[1];
    return best;
  }
  function num(s) { const n = Number(s); return Number.isFinite(n) ? n : 0; }

  // parseOffer reads a kind 38460 event; null if it is not a usable offer.
  function parseOffer(evt) {
    if (evt.kind !== KIND.offer) return null;
    const d = tag(evt, "d");
    const resource = (tags(evt, "t").map((t) => t[1]).find((r) => r === "bandwidth" || r === "storage" || r === "inference")) || "";
    const prices = tags(evt, "price").filter((t) => t[2] === "msat").map((t) => ({ msat: num(t[1]), unit: t[3] || "" }));
    if (!d || !resource || !prices.length) return null;
    const q = tags(evt, "quantity")[0] || [];
    return {
      address: KIND.offer + ":" + evt.pubkey + ":" + d,
      id: d, eventId: evt.id, pubkey: evt.pubkey, createdAt: evt.created_at,
      resource, prices, maxPrice: Math.max(...prices.map((p) => p.msat)),
      minQuantity: num(q[1]), maxQuantity: num(q[2]), capacity: num(tag(evt, "capacity")),
      payments: tags(evt, "payment").map((t) => (t[1] === "cashu" ? "cashu" : t[1])),
      geohash: longest(evt, "g"), tier: tag(evt, "tier"), expiration: num(tag(evt, "expiration")),
      title: tag(evt, "title") || tag(evt, "summary") || d, models: tags(evt, "model").map((t) => t[1]),
    };
  }

  function parsePresence(evt) {
    if (evt.kind !== KIND.presence) return null;
    return {
      pubkey: evt.pubkey, createdAt: evt.created_at, load: num(tag(evt, "load")), uptime: num(tag(evt, "uptime")),
      tier: tag(evt, "tier"), geohash: longest(evt, "g"), expiration: num(tag(evt, "expiration")),
      capabilities: tags(evt, "t").map((t) => t[1]), endpoints: tags(evt, "endpoint").map((t) => t[1]),
    };
  }

  function parseReceipt(evt) {
    if (evt.kind !== KIND.receipt) return null;
    return {
      id: evt.id, provider: evt.pubkey, buyer: tag(evt, "p"), createdAt: evt.created_at, resource: tag(evt, "t"),
      delivered: num(tag(evt, "delivered")), bytes: num(tag(evt, "bytes")), paid: num(tag(evt, "paid")), session: tag(evt, "session"),
      countersigned: tag(evt, "countersig") !== "",
    };
  }

  function parseAttestation(evt) {
    if (evt.kind !== KIND.attestation) return null;
    const l = tags(evt, "l").find((t) => t[2] === "sovmesh/trust");
    return {
      id: evt.id, author: evt.pubkey, subject: tag(evt, "p"), createdAt: evt.created_at, role: tag(evt, "role"),
      outcome: l ? l[1] : "", rating: num(tag(evt, "rating")), settled: num(tag(evt, "settled")),
      latencyMs: num(tag(evt, "latency_ms")), receipt: tag(evt, "e"),
    };
  }

  // Amounts, sizes and durations go through Units (units.js, shared with
  // agentd's dashboard): sats with the exact millisats on hover.
  const fmtMsat = Units.sats;
  function fmtSats(n) { return Units.sats(Number(n) * 1000); }
  function fmtNum(n) { return Number(n).toLocaleString("en-US"); }
  const fmtDuration = Units.duration;
  // prices is a fragment listing an offer's prices, each with its exact value
  // as its title: "0.05 sat/MiB".
  function prices(ps) {
    const out = document.createDocumentFragment();
    ps.forEach((p) => {
      out.append(Units.span(Units.sats(p.msat) + "/" + Units.unit(p.unit), Units.satsExact(p.msat) + " per " + p.unit));
    });
    return out;
  }
  // quantity is n units of resource, human, the exact count as its title.
  function quantity(resource, n) { return Units.span(Units.quantity(resource, n), Units.quantityExact(resource, n)); }
  function range(resource, lo, hi) {
    return Units.span(Units.quantity(resource, lo) + " – " + Units.quantity(resource, hi),
      Units.quantityExact(resource, lo) + " – " + Units.quantityExact(resource, hi));
  }
  function short(hex) { return hex ? hex.slice(0, 8) + "…" + hex.slice(-4) : ""; }
  function now() { return Math.floor(Date.now() / 1000); }
  function ago(ts) { const d = now() - ts; return d >= 0 ? fmtDuration(d) + " ago" : "in " + fmtDuration(-d); }
  function providerURL(pk) { return "/provider/" + pk; }

  // Relay is a small NIP-01 client for the relay that served the page, with
  // reconnects. subs: {id: [filters]}; handlers: onEvent(subId, evt),
  // onEose(subId), onStatus(text, live).
  class Relay {
    constructor(subs, handlers) {
      this.subs = subs;
      this.h = handlers;
      this.backoff = 500;
      this.closed = false;
      this.connect();
    }
    url() { return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/"; }
    connect() {
      this.h.onStatus && this.h.onStatus("connecting…", false);
      let ws;
      try { ws = new WebSocket(this.url()); } catch (e) { this.retry(); return; }
      this.ws = ws;
      ws.onopen = () => {
        this.backoff = 500;
        this.h.onStatus && this.h.onStatus("connected", false);
        for (const [id, filters] of Object.entries(this.subs)) ws.send(JSON.stringify(["REQ", id, ...filters]));
      };
      ws.onmessage = (m) => {
        let msg;
        try { msg = JSON.parse(m.data); } catch (e) { return; }
        if (!Array.isArray(msg)) return;
        if (msg[0] === "EVENT" && msg[2] && typeof msg[2] === "object") this.h.onEvent(msg[1], msg[2]);
        else if (msg[0] === "EOSE") this.h.onEose && this.h.onEose(msg[1]);
        else if (msg[0] === "CLOSED") this.h.onStatus && this.h.onStatus("subscription closed: " + msg[2], false);
      };
      ws.onclose = () => { if (!this.closed) this.retry(); };
      ws.onerror = () => {};
    }
    retry() {
      this.h.onStatus && this.h.onStatus("disconnected; retrying…", false);
      setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 15000);
    }
  }

  // bookTrust fetches the marketplace's order book (GET /api/book) for every
  // resource and returns {trust: {pubkey: rank}, capacity: {address: left}},
  // or null when the relay has no marketplace.
  async function bookTrust() {
    const trust = {}, capacity = {};
    let any = false;
    for (const r of ["bandwidth", "storage", "inference"]) {
      try {
        const resp = await fetch("/api/book?limit=1000&resource=" + r, { cache: "no-store" });
        if (!resp.ok) continue;
        const book = await resp.json();
        any = true;
        for (const o of book.offers || []) {
          trust[o.provider] = o.trust;
          capacity[o.address] = o.capacity;
        }
      } catch (e) { /* offline: trust unknown */ }
    }
    return any ? { trust, capacity } : null;
  }

  return { KIND, HEX64, el, clear, label, tag, tags, parseOffer, parsePresence, parseReceipt, parseAttestation,
    fmtMsat, fmtSats, fmtNum, prices, quantity, range, short, fmtDuration, now, ago, providerURL, Relay, bookTrust };
})();
