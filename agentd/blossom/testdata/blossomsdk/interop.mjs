// blossom-client-sdk against agentd's Blossom server: upload (HEAD
// /upload, 402, pay, PUT), download (402, pay, GET), list, delete. Run by
// agentd/blossom's TestBlossomClientSDK; prints one JSON line.
//
//   node interop.mjs SERVER SECRET_HEX UPLOAD_TOKEN GET_TOKEN
import { Actions, createUploadAuth, createDeleteAuth, getPaymentRequestFromHeaders } from "blossom-client-sdk";
import { finalizeEvent, getPublicKey } from "nostr-tools/pure";

const [server, skHex, uploadToken, getToken] = process.argv.slice(2);
const sk = Uint8Array.from(Buffer.from(skHex, "hex"));
const signer = async (draft) => finalizeEvent(draft, sk);
const requests = [];
const pay = (token) => async (...args) => {
  const headers = args[args.length - 1];
  const r = await getPaymentRequestFromHeaders(headers);
  requests.push({ amount: r.amount, unit: r.unit, mints: r.mints });
  return { "X-Cashu": token };
};

const blob = new Blob([new TextEncoder().encode("hello from blossom-client-sdk ".repeat(40))], { type: "text/plain" });
const descriptor = await Actions.uploadBlob(server, blob, {
  auth: true,
  onAuth: (_server, sha256) => createUploadAuth(signer, sha256),
  onPaymentRequired: pay(uploadToken),
});
const res = await Actions.downloadBlob(server, descriptor.sha256, { onPaymentRequired: pay(getToken) });
const body = await res.text();
const listed = await Actions.listBlobs(server, getPublicKey(sk));
const deleted = await Actions.deleteBlob(server, descriptor.sha256, {
  auth: true,
  onAuth: (_server, sha256) => createDeleteAuth(signer, sha256),
});
const after = await Actions.listBlobs(server, getPublicKey(sk));
console.log(JSON.stringify({ descriptor, requests, downloaded: body === (await blob.text()), listed: listed.length, deleted, after: after.length }));
