// Reads NIP-60 events (the relay's answer, as JSON on stdin with the key
// that decrypts them) with applesauce-wallet, a NIP-60 wallet library, and
// prints what a wallet app would show: mints, balance, tokens, history.
import { readFileSync } from "node:fs";
import { PrivateKeySigner } from "applesauce-signers";
// The helper modules one by one: the helpers index also loads the animated
// QR code module, whose bc-ur dependency does not load under Node's ESM.
import { isValidWallet, unlockWallet, getWalletMints } from "applesauce-wallet/helpers/wallet";
import { isValidWalletToken, unlockTokenContent, getTokenProofsTotal } from "applesauce-wallet/helpers/tokens";
import { isValidWalletHistory, unlockHistoryContent } from "applesauce-wallet/helpers/history";

const input = JSON.parse(readFileSync(0, "utf8"));
const signer = new PrivateKeySigner(Uint8Array.from(Buffer.from(input.secret, "hex")));
const out = { mints: [], balance: 0, tokens: 0, proofs: 0, history: [] };
for (const ev of input.events) {
  if (isValidWallet(ev)) {
    await unlockWallet(ev, signer);
    out.mints = getWalletMints(ev);
  } else if (isValidWalletToken(ev)) {
    const content = await unlockTokenContent(ev, signer);
    out.balance += getTokenProofsTotal(ev);
    out.tokens += 1;
    out.proofs += content.proofs.length;
  } else if (isValidWalletHistory(ev)) {
    const h = await unlockHistoryContent(ev, signer);
    out.history.push({ direction: h.direction, amount: h.amount, created: h.created.length });
  } else {
    throw new Error(`not a NIP-60 event as applesauce reads it: kind ${ev.kind}`);
  }
}
process.stdout.write(JSON.stringify(out) + "\n");
