// A provider's page: its offers, presence beacon, receipts and the
// attestations about it, live from the relay; its trust rank from the
// marketplace's /api/book.
"use strict";

(() => {
  const { el, clear } = SM;
  const $ = (id) => document.getElementById(id);
  const pk = decodeURIComponent(location.pathname.split("/")[2] || "");
  if (!SM.HEX64.test(pk)) {
    $("p-key").textContent = "(not a valid pubkey)";
    return;
  }
  $("p-key").textContent = pk;
  document.title = "sovmesh · provider " + SM.short(pk);

  const offers = new Map(), receipts = new Map(), attestations = new Map();
  let presence = null;
  // live: the relay has sent what it stores (EOSE). Before that, nothing
  // shown is final: the page says loading.
  let live = false;
  // empty shows a table's empty message: loading before EOSE, then text.
  function empty(id, n, text) {
    $(id).hidden = n > 0;
    $(id).textContent = live ? text : "loading…";
  }

  let pending = false;
  function render() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; draw(); });
  }

  function draw() {
    const t = SM.now();
    // Offers
    const ob = document.querySelector("#p-offers tbody");
    clear(ob);
    const open = [...offers.values()].filter((o) => !o.expiration || o.expiration > t).sort((a, b) => a.maxPrice - b.maxPrice);
    for (const o of open) {
      ob.append(el("tr", { "data-offer": o.id },
        el("td", {}, el("span", { class: "res res-" + o.resource }, o.resource)),
        el("td", {}, o.title, o.models.length ? el("div", { class: "muted" }, o.models.join(", ")) : null),
        el("td", { class: "num price" }, el("div", {}, SM.prices(o.prices))),
        el("td", { class: "num qty" }, SM.range(o.resource, o.minQuantity, o.maxQuantity)),
        el("td", { class: "num capacity" }, SM.quantity(o.resource, o.capacity)),
        el("td", {}, o.geohash || "any"), el("td", {}, o.tier),
        el("td", {}, [...new Set(o.payments)].join(", ")),
        el("td", {}, o.expiration ? SM.ago(o.expiration) : "")));
    }
    SM.label($("p-offers"));
    empty("p-offers-empty", open.length, "No open offers.");

    // Presence and uptime
    if (presence) {
      const fresh = !presence.expiration || presence.expiration > t;
      $("p-presence").textContent = fresh ? "online" : "offline";
      $("p-presence").className = "big " + (fresh ? "good" : "bad");
      $("p-presence-note").textContent = "last beacon " + SM.ago(presence.createdAt) + (fresh ? "" : " (expired)");
      $("p-uptime").textContent = SM.fmtDuration(presence.uptime + (fresh ? Math.max(0, t - presence.createdAt) : 0));
      $("p-load").textContent = "load " + presence.load + "% · " + presence.tier + (presence.geohash ? " · region " + presence.geohash : "");
      $("p-beacon").textContent = "Serves " + (presence.capabilities.join(", ") || "nothing announced") +
        (presence.endpoints.length ? " · endpoints " + presence.endpoints.join(" ") : "");
    } else {
      $("p-presence").textContent = live ? "no beacon" : "loading…";
      $("p-presence").className = "big";
      $("p-uptime").textContent = live ? "–" : "loading…";
    }

    // Receipts: sessions this key provided (it signed them) or bought (p tag).
    const rb = document.querySelector("#p-receipts tbody");
    clear(rb);
    const rs = [...receipts.values()].sort((a, b) => b.createdAt - a.createdAt);
    let paid = 0, signed = 0, provided = 0;
    for (const r of rs) {
      const asProvider = r.provider === pk;
      if (asProvider) {
        provided++;
        if (r.countersigned) { signed++; paid += r.paid; }
      }
      const other = asProvider ? r.buyer : r.provider;
      rb.append(el("tr", { "data-receipt": r.id },
        el("td", {}, SM.ago(r.createdAt)), el("td", {}, asProvider ? "provider" : "buyer"), el("td", {}, r.resource),
        el("td", { class: "num delivered" }, delivered(r)),
        el("td", { class: "num" }, Units.span(Units.sats(r.paid), Units.satsExact(r.paid))),
        el("td", {}, el("a", { href: SM.providerURL(other), class: "mono" }, SM.short(other))),
        el("td", { class: r.countersigned ? "good" : "muted" }, r.countersigned ? "yes" : "no")));
    }
    SM.label($("p-receipts"));
    empty("p-receipts-empty", rs.length, "No receipts yet.");
    if (!live) return;
    Units.show($("p-settled"), Units.sats(paid), Units.satsExact(paid));
    $("p-receipt-note").textContent = provided + (provided === 1 ? " session provided, " : " sessions provided, ") + signed + " countersigned";

    // Attestations about this key
    const ab = document.querySelector("#p-attestations tbody");
    clear(ab);
    const as = [...attestations.values()].sort((a, b) => b.createdAt - a.createdAt);
    let sum = 0;
    const outcomes = {};
    for (const a of as) {
      sum += a.rating;
      outcomes[a.outcome] = (outcomes[a.outcome] || 0) + 1;
      ab.append(el("tr", { "data-attestation": a.id },
        el("td", {}, SM.ago(a.createdAt)),
        el("td", {}, el("a", { href: SM.providerURL(a.author), class: "mono" }, SM.short(a.author))),
        el("td", {}, a.role), el("td", { class: a.outcome === "delivered" ? "good" : a.outcome === "failed" ? "bad" : "" }, a.outcome),
        el("td", { class: "num" }, String(a.rating)), el("td", { class: "num" }, Units.span(Units.sats(a.settled), Units.satsExact(a.settled))),
        el("td", { class: "num" }, a.latencyMs ? a.latencyMs + " ms" : "–")));
    }
    SM.label($("p-attestations"));
    empty("p-attestations-empty", as.length, "No attestations yet.");
    $("p-rating").textContent = as.length ? Math.round(sum / as.length) + " / 100" : "–";
    $("p-rating-note").textContent = as.length ? Object.entries(outcomes).map(([k, v]) => v + " " + k).join(", ") : "no ratings";
    if (live) document.body.dataset.live = "true";
  }

  // delivered says what a receipt delivered: the exact bytes when it gives
  // them, else its units (storage rounds up to whole GiB).
  function delivered(r) {
    if (r.bytes) return Units.span(Units.bytes(r.bytes), Units.bytesExact(r.bytes));
    return Units.span((r.resource === "storage" ? "up to " : "") + Units.quantity(r.resource, r.delivered),
      Units.quantityExact(r.resource, r.delivered) + " (the receipt gives no exact size)");
  }

  async function refreshTrust() {
    // The relay's trust endpoint knows every key; without it, the order book
    // knows the keys with open offers.
    try {
      const resp = await fetch("/api/trust/" + pk, { cache: "no-store" });
      if (resp.ok) {
        const t = await resp.json();
        $("p-trust").textContent = t.known ? t.rank + " / 100" : "–";
        $("p-trust-note").textContent = t.known ? "rank in this relay's view of trust" : "no trust yet: no settled receipt links it to trusted keys";
        return;
      }
    } catch (e) { /* fall back to the book */ }
    const b = await SM.bookTrust();
    if (!b) {
      $("p-trust").textContent = "–";
      $("p-trust-note").textContent = "this relay runs no marketplace";
    } else if (pk in b.trust) {
      $("p-trust").textContent = b.trust[pk] + " / 100";
      $("p-trust-note").textContent = "rank among this relay's providers";
    } else {
      $("p-trust").textContent = "–";
      $("p-trust-note").textContent = "not ranked (no open offer in the book)";
    }
  }

  new SM.Relay({
    p: [
      { kinds: [SM.KIND.offer], authors: [pk] },
      { kinds: [SM.KIND.presence], authors: [pk] },
      { kinds: [SM.KIND.receipt], authors: [pk], limit: 200 },
      { kinds: [SM.KIND.receipt], "#p": [pk], limit: 200 },
      { kinds: [SM.KIND.attestation], "#p": [pk], limit: 200 },
    ],
  }, {
    onEvent(sub, evt) {
      if (evt.pubkey !== pk && evt.kind !== SM.KIND.attestation && evt.kind !== SM.KIND.receipt) return;
      switch (evt.kind) {
        case SM.KIND.offer: {
          const o = SM.parseOffer(evt);
          const old = o && offers.get(o.address);
          if (o && (!old || old.createdAt <= o.createdAt)) offers.set(o.address, o);
          break;
        }
        case SM.KIND.presence: {
          const p = SM.parsePresence(evt);
          if (!presence || presence.createdAt <= p.createdAt) presence = p;
          break;
        }
        case SM.KIND.receipt: {
          const r = SM.parseReceipt(evt);
          if (r.provider === pk || r.buyer === pk) receipts.set(evt.id, r);
          break;
        }
        case SM.KIND.attestation: {
          const a = SM.parseAttestation(evt);
          if (a.subject === pk) attestations.set(evt.id, a);
          break;
        }
      }
      render();
    },
    // data-live is set by the first draw after EOSE, so it means the page
    // shows what the relay stores.
    onEose() { live = true; refreshTrust(); render(); },
    onStatus(text) {
      $("status").textContent = text === "connected" ? "live" : text;
      $("status").className = "status" + (text === "connected" ? " live" : "");
    },
  });
  setInterval(refreshTrust, 15000);
  setInterval(render, 30000);
})();
