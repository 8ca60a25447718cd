// cashu-ts (npm @cashu/cashu-ts, pinned in package-lock.json) against a
// mint, driven by market/pay/cashu's TestCashuTSInterop.
//
//   node interop.mjs mint-and-send MINT_URL MINT_SATS SEND_SATS
//     mints MINT_SATS through a NUT-04 bolt11 quote (checking the quote's
//     amount, unit and expiry as cashu-ts reads them) and prints
//     {"token": <a token of SEND_SATS>, "quote": {...}}
//   node interop.mjs receive MINT_URL TOKEN
//     receives TOKEN and prints {"amount": <sats received>}
import { Wallet, MintQuoteState, getEncodedToken } from '@cashu/cashu-ts';

const [cmd, mintUrl, a, b] = process.argv.slice(2);
const wallet = new Wallet(mintUrl);
await wallet.loadMint();

const sum = (proofs) => proofs.reduce((n, p) => n + Number(p.amount), 0);

if (cmd === 'mint-and-send') {
  const amount = Number(a);
  const quote = await wallet.createMintQuoteBolt11(amount);
  const now = Math.floor(Date.now() / 1000);
  if (Number(quote.amount) !== amount || quote.unit !== 'sat' || !(quote.expiry > now)) {
    throw new Error(`mint quote not as NUT-04 says: ${JSON.stringify(quote)}`);
  }
  let state = quote.state;
  for (let i = 0; i < 100 && state !== MintQuoteState.PAID; i++) {
    await new Promise((r) => setTimeout(r, 50));
    state = (await wallet.checkMintQuoteBolt11(quote.quote)).state;
  }
  if (state !== MintQuoteState.PAID) throw new Error(`quote never paid: ${state}`);
  const proofs = await wallet.mintProofsBolt11(amount, quote.quote);
  if (sum(proofs) !== amount) throw new Error(`minted ${sum(proofs)}, want ${amount}`);
  const { send } = await wallet.send(Number(b), proofs);
  const token = getEncodedToken({ mint: mintUrl, proofs: send });
  console.log(JSON.stringify({ token, quote: { amount: Number(quote.amount), unit: quote.unit, expiry: quote.expiry } }));
} else if (cmd === 'receive') {
  const proofs = await wallet.receive(a);
  console.log(JSON.stringify({ amount: sum(proofs) }));
} else {
  throw new Error(`unknown command ${cmd}`);
}
