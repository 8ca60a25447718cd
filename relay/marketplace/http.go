package marketplace

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"

	"github.com/sovmesh/sovmesh/market"
	"github.com/sovmesh/sovmesh/nips"
)

// serveBook answers GET /api/book?resource=R[&ceiling=MSAT][&region=GEOHASH]
// [&min_trust=0..100][&limit=N][&sort=price|trust] with a JSON order-book
// view: offers (cheapest first, or most trusted first) and resting bids.
func (m *Marketplace) serveBook(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	bad := func(msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
	}
	res := nips.Resource(q.Get("resource"))
	if !res.Valid() {
		bad("resource must be bandwidth, storage or inference")
		return
	}
	vq := market.ViewQuery{Region: q.Get("region"), Now: m.now()}
	if v := q.Get("ceiling"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			bad("ceiling must be a whole number of millisats")
			return
		}
		vq.Ceiling = n
	}
	if v := q.Get("min_trust"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 100 {
			bad("min_trust must be 0 to 100")
			return
		}
		vq.MinTrust = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			bad("limit must be 1 to 1000")
			return
		}
		vq.Limit = n
	}
	sortBy := cmp.Or(q.Get("sort"), "price")
	if sortBy != "price" && sortBy != "trust" {
		bad("sort must be price or trust")
		return
	}
	view, err := m.x.View(res, vq)
	if err != nil {
		bad(err.Error())
		return
	}
	if sortBy == "trust" {
		slices.SortStableFunc(view.Offers, func(a, b market.OfferView) int { return cmp.Compare(b.Trust, a.Trust) })
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	_ = json.NewEncoder(w).Encode(view)
}
