// Package webunits holds units.js, the one formatter of quantities (sats,
// bytes, token counts, durations) for sovmesh's web pages: the relay's
// offer browser and provider pages (relay/web) and agentd's provider
// dashboard (agentd/dashboard) both serve it at /static/units.js, so a
// price or a size reads the same everywhere.
package webunits

import _ "embed"

// JS is units.js. It defines one global, Units; see the file.
//
//go:embed units.js
var JS []byte

// Path is where the pages load it from.
const Path = "/static/units.js"
