package marketplace

import (
	"cmp"
	"context"
	"fmt"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/market/pay/fees"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/relay"
)

// FeeOptions returns the relay options that charge the operator's fees with
// col: a policy that runs last (after every other check, so a refused event
// is never charged) and answers payment-required: or blocked:, a refund when
// the store then fails, the answer to top-up events (nips.KindTopUp), which
// credit a prepaid balance, and the NIP-11 fees document. When some fee is
// not zero, the relay also sends its NIP-42 challenge on connect, so a client
// can authenticate before it pays from its balance.
func FeeOptions(col *fees.Collector, mints []string, testMoney bool) []relay.Option {
	opts := []relay.Option{
		relay.WithEventPolicy("fee", func(ctx context.Context, evt *nostr.Event) string {
			if relay.FromPeer(ctx) != "" {
				return "" // charged where it was first published
			}
			if err := col.Charge(ctx, evt, relay.AuthedPubkey(ctx)); err != nil {
				return fees.Prefix(err) + ": " + err.Error()
			}
			return ""
		}),
		relay.WithOnStoreFailure(func(ctx context.Context, evt *nostr.Event) {
			_ = col.Refund(context.WithoutCancel(ctx), evt.ID)
		}),
		relay.WithAnswer("fee_topup", nips.KindTopUp, func(ctx context.Context, evt *nostr.Event) (bool, string) {
			return topUp(ctx, col, evt)
		}),
		relay.WithInfo(func(info *relay.Info) {
			info.Fees = col.NIP11()
			info.Limitation.PaymentRequired = info.Fees != nil
			info.Mints = mints
			info.TestMoney = testMoney
			if info.Fees != nil {
				info.TopUpKind = nips.KindTopUp
			}
		}),
	}
	if col.NIP11() != nil {
		opts = append(opts, relay.WithAuthChallenge())
	}
	return opts
}

// topUp answers a top-up event: it credits the token to the prepaid balance
// of the connection's authenticated key, or of the author without AUTH (the
// key Charge then charges). The redemption runs to its end even if the
// client goes away; its answer is safe to resend (same event, same outcome).
func topUp(ctx context.Context, col *fees.Collector, evt *nostr.Event) (bool, string) {
	if col.NIP11() == nil {
		return false, "blocked: this relay charges no fees, so there is nothing to prepay; keep your token"
	}
	tu, err := nips.ParseTopUp(evt)
	if err != nil {
		return false, "invalid: " + err.Error()
	}
	payer := cmp.Or(relay.AuthedPubkey(ctx), evt.PubKey)
	res, err := col.TopUp(context.WithoutCancel(ctx), payer, tu.Token, evt.ID)
	switch {
	case err != nil && res.Credited == 0:
		return false, fees.Prefix(err) + ": " + err.Error()
	case err != nil: // credited, then the balance could not be read
		return true, fmt.Sprintf("credited %d sats", res.Credited)
	}
	return true, fmt.Sprintf("credited %d sats; balance %d sats", res.Credited, res.Balance)
}
