package marketplace

import (
	"context"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/market/pay/fees"
	"github.com/sovmesh/sovmesh/relay"
)

// FeeOptions returns the relay options that charge the operator's fees with
// col: a policy that runs last (after every other check, so a refused event
// is never charged) and answers payment-required: or blocked:, a refund when
// the store then fails, and the NIP-11 fees document.
func FeeOptions(col *fees.Collector, mints []string, testMoney bool) []relay.Option {
	return []relay.Option{
		relay.WithEventPolicy("fee", func(ctx context.Context, evt *nostr.Event) string {
			if err := col.Charge(ctx, evt, relay.AuthedPubkey(ctx)); err != nil {
				return fees.Prefix(err) + ": " + err.Error()
			}
			return ""
		}),
		relay.WithOnStoreFailure(func(ctx context.Context, evt *nostr.Event) {
			_ = col.Refund(context.WithoutCancel(ctx), evt.ID)
		}),
		relay.WithInfo(func(info *relay.Info) {
			info.Fees = col.NIP11()
			info.Limitation.PaymentRequired = info.Fees != nil
			info.Mints = mints
			info.TestMoney = testMoney
		}),
	}
}
