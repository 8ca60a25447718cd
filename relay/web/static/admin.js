// The operator dashboard. The data endpoint needs the operator's key: the
// page signs a NIP-98 event with a NIP-07 signer (window.nostr) once, gets a
// session cookie, and reads /admin/api/stats with it.
"use strict";

(() => {
  const { el, clear } = SM;
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg"; // the SVG namespace name, not a download
  let timer = null;

  function b64(s) {
    const bytes = new TextEncoder().encode(s);
    let bin = "";
    for (const b of bytes) bin += String.fromCharCode(b);
    return btoa(bin);
  }

  function showLogin(message) {
    $("dash").hidden = true;
    $("login").hidden = false;
    $("auth-msg").textContent = message;
    if (window.nostr && typeof window.nostr.signEvent === "function") {
      $("login-help").textContent = "A NIP-07 signer is available: sign in with the operator's key.";
      $("login-btn").hidden = false;
    } else {
      $("login-help").textContent = "No NIP-07 signer (window.nostr) in this browser. Use a Nostr signer extension that holds the operator's key, " +
        "or call /admin/api/stats with an \"Authorization: Nostr <base64 NIP-98 event>\" header.";
      $("login-btn").hidden = true;
    }
    if (timer) { clearInterval(timer); timer = null; }
  }

  async function login() {
    $("login-btn").disabled = true;
    try {
      const url = location.origin + "/admin/api/login";
      const unsigned = { kind: 27235, created_at: SM.now(), tags: [["u", url], ["method", "POST"]], content: "" };
      let signed;
      try {
        signed = await window.nostr.signEvent(unsigned);
      } catch (e) {
        showLogin("Refused: the signer did not sign the login (" + (e && e.message ? e.message : e) + ").");
        return;
      }
      const resp = await fetch(url, { method: "POST", headers: { Authorization: "Nostr " + b64(JSON.stringify(signed)) }, credentials: "same-origin" });
      if (!resp.ok) {
        showLogin(await errorText(resp));
        return;
      }
      await load();
    } finally {
      $("login-btn").disabled = false;
    }
  }

  async function errorText(resp) {
    try { const j = await resp.json(); if (j.error) return j.error; } catch (e) { /* not JSON */ }
    return "Refused (HTTP " + resp.status + ").";
  }

  async function load() {
    let resp;
    try {
      resp = await fetch("/admin/api/stats", { credentials: "same-origin", cache: "no-store" });
    } catch (e) {
      $("status").textContent = "relay unreachable";
      return;
    }
    if (resp.status === 401 || resp.status === 403) {
      showLogin(await errorText(resp));
      return;
    }
    if (!resp.ok) {
      $("status").textContent = await errorText(resp);
      return;
    }
    const d = await resp.json();
    $("login").hidden = true;
    $("dash").hidden = false;
    $("status").textContent = "operator " + SM.short(d.operator);
    $("status").className = "status live";
    draw(d);
    if (!timer) timer = setInterval(load, 15000);
  }

  function draw(d) {
    $("relay-name").textContent = d.relay && d.relay.name ? "· " + d.relay.name : "";
    const e = d.earnings;
    if (d.available.earnings) {
      $("month").textContent = e.month;
      $("month-earn").textContent = SM.fmtSats(e.month_sats);
      $("month-note").textContent = SM.fmtNum(e.month_events) + " paid events · last month (" + e.last_month + ") " + SM.fmtSats(e.last_month_sats);
      $("earn-note").textContent = "Last 30 days: " + SM.fmtSats(e.last_30_days_sats) + ".";
      chart(e.days);
    } else {
      $("month").textContent = "–";
      $("month-earn").textContent = "fees off";
      $("month-note").textContent = "This relay runs no fee collector.";
      clear($("chart"));
      $("earn-note").textContent = "No fee ledger: the relay charges no fees.";
    }
    $("wallet-balance").textContent = d.available.wallet ? SM.fmtSats(d.wallet.balance_sats) : "no wallet";
    $("connections").textContent = d.connections === null ? "n/a" : SM.fmtNum(d.connections);

    const n = d.network;
    $("providers-seen").textContent = SM.fmtNum(n.providers_seen);
    $("providers-note").textContent = SM.fmtNum(n.providers_offering) + " with open offers · " + SM.fmtNum(n.offers_open) + " offers";
    $("beacons-fresh").textContent = SM.fmtNum(n.beacons_fresh);
    $("beacons-note").textContent = SM.fmtNum(n.beacons_stale) + " expired";
    const ratio = n.providers_seen ? n.beacons_fresh / n.providers_seen : 0;
    $("health").textContent = n.providers_seen ? SM.fmtNum(n.beacons_fresh) + " of " + SM.fmtNum(n.providers_seen) + " online" : "no providers yet";
    $("health").className = "big " + (!n.providers_seen ? "" : ratio >= 0.8 ? "good" : ratio >= 0.5 ? "warn" : "bad");
    $("health-note").textContent = "providers with a fresh presence beacon" + (n.truncated ? " (lower bound: over 10,000 events)" : "");

    const kb = document.querySelector("#kinds tbody");
    clear(kb);
    for (const k of d.events_by_kind) {
      kb.append(el("tr", { "data-kind": k.kind }, el("td", { class: "num" }, String(k.kind)), el("td", {}, k.name), el("td", { class: "num" }, SM.fmtNum(k.count))));
    }
    kb.append(el("tr", { class: "total" }, el("td", {}, "all"), el("td", {}), el("td", { class: "num" }, SM.fmtNum(d.events_total))));

    const rb = document.querySelector("#rejected tbody");
    clear(rb);
    for (const r of d.rejected) rb.append(el("tr", { "data-reason": r.reason }, el("td", {}, r.reason), el("td", { class: "num" }, SM.fmtNum(r.count))));
    $("rejected-empty").hidden = d.rejected.length > 0;
    if (!d.available.stats) $("rejected-empty").textContent = "Not available: the relay gave no counters.";

    const pb = document.querySelector("#peers tbody");
    clear(pb);
    for (const p of d.peers) {
      const ago = p.last_sync ? SM.fmtNum(Math.max(0, d.now - p.last_sync)) + " s ago" : "never";
      pb.append(el("tr", { "data-peer": p.url },
        el("td", {}, p.url),
        el("td", { class: p.connected ? "good" : "bad" }, p.connected ? "connected" : "down"),
        el("td", { class: "num" }, ago),
        el("td", { class: "num" }, p.events_in ? p.lag_seconds.toFixed(1) + " s" : "–"),
        el("td", { class: "num" }, SM.fmtNum(p.events_in) + " / " + SM.fmtNum(p.events_out))));
    }
    $("peers-empty").hidden = d.peers.length > 0;

    const errs = $("errors");
    clear(errs);
    for (const m of d.errors || []) errs.append(el("li", {}, m));
    $("updated").textContent = "updated " + new Date(d.now * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
  }

  // chart draws the days as stacked bars (publication below, matching on top).
  function chart(days) {
    const box = $("chart");
    clear(box);
    const W = 720, H = 200, L = 48, B = 24, T = 10;
    const max = niceCeil(Math.max(1, ...days.map((x) => x.publication_sats + x.matching_sats)));
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "fee earnings per day, last 30 days");
    const node = (name, attrs, text) => {
      const e = document.createElementNS(SVG, name);
      for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
      if (text !== undefined) e.textContent = text;
      svg.append(e);
      return e;
    };
    const plotH = H - B - T, bw = (W - L) / days.length;
    for (const f of [0, 0.5, 1]) {
      const y = T + plotH * (1 - f);
      node("line", { x1: L, x2: W, y1: y, y2: y, class: "grid" });
      node("text", { x: L - 6, y: y + 4, class: "axis", "text-anchor": "end" }, SM.fmtNum(Math.round(max * f)));
    }
    days.forEach((x, i) => {
      const x0 = L + i * bw + 1, w = Math.max(1, bw - 2);
      const hp = (x.publication_sats / max) * plotH, hm = (x.matching_sats / max) * plotH;
      const g = document.createElementNS(SVG, "g");
      g.setAttribute("data-day", x.day);
      const title = document.createElementNS(SVG, "title");
      title.textContent = x.day + ": " + (x.publication_sats + x.matching_sats) + " sat (" + x.publication_sats + " publication, " + x.matching_sats + " matching; " + x.events + " events)";
      g.append(title);
      for (const [h, y, cls] of [[hp, T + plotH - hp, "bar pub"], [hm, T + plotH - hp - hm, "bar match"]]) {
        if (h <= 0) continue;
        const r = document.createElementNS(SVG, "rect");
        for (const [k, v] of Object.entries({ x: x0, y, width: w, height: h, class: cls })) r.setAttribute(k, String(v));
        g.append(r);
      }
      svg.append(g);
      const last = i === days.length - 1;
      if (i % 5 === 0 || last) node("text", { x: last ? x0 + w : x0 + w / 2, y: H - 6, class: "axis", "text-anchor": last ? "end" : "middle" }, x.day.slice(5));
    });
    box.append(svg);
  }

  // niceCeil rounds up to 1, 2 or 5 times a power of ten, so the grid's
  // middle line is a round number.
  function niceCeil(n) {
    const p = Math.pow(10, Math.floor(Math.log10(n)));
    for (const m of [1, 2, 5, 10]) if (m * p >= n) return m * p;
    return 10 * p;
  }

  $("login-btn").addEventListener("click", login);
  $("logout-btn").addEventListener("click", async () => {
    await fetch("/admin/api/logout", { method: "POST", credentials: "same-origin" });
    showLogin("Signed out.");
  });
  load();
})();
