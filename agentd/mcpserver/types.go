package mcpserver

// The tools' inputs and outputs: the SDK derives each tool's JSON input and
// output schemas from these types (jsonschema tags are the descriptions).

// Price is one unit price of an offer.
type Price struct {
	Unit string `json:"unit" jsonschema:"unit priced: GiB-day, GiB-upload, GiB-retrieval, MiB, 1M-input-tokens or 1M-output-tokens"`
	Msat uint64 `json:"msat" jsonschema:"millisatoshis per unit"`
}

// SearchIn asks for offers.
type SearchIn struct {
	Resource string `json:"resource" jsonschema:"what to buy: storage, bandwidth or inference"`
	Model    string `json:"model,omitempty" jsonschema:"inference only: offers of this model only"`
}

// Offer is a provider's offer the agent would buy from, ranked.
type Offer struct {
	Provider    string   `json:"provider" jsonschema:"the provider's Nostr pubkey (hex)"`
	ID          string   `json:"id" jsonschema:"the offer's d tag"`
	Resource    string   `json:"resource"`
	Prices      []Price  `json:"prices"`
	Models      []string `json:"models,omitempty" jsonschema:"inference: the models sold"`
	Capacity    uint64   `json:"capacity" jsonschema:"quantity left to sell, in the resource's unit"`
	Geohash     string   `json:"geohash,omitempty"`
	Tier        string   `json:"tier,omitempty"`
	Title       string   `json:"title,omitempty"`
	Trust       int      `json:"trust" jsonschema:"trust rank 0-100 from the web of trust"`
	LatencyMs   int64    `json:"latency_ms" jsonschema:"measured round trip to the provider"`
	LoadPercent uint64   `json:"load_percent" jsonschema:"the provider's announced load (0: none announced)"`
	Score       float64  `json:"score" jsonschema:"ranking score, lower is better (price inflated by latency, failures and load, deflated by trust)"`
}

// SearchOut lists the acceptable offers, best first.
type SearchOut struct {
	Offers []Offer `json:"offers" jsonschema:"offers within the agent's price ceilings whose providers answered, best first"`
}

// QuoteIn asks what a purchase costs.
type QuoteIn struct {
	Resource         string `json:"resource" jsonschema:"storage, bandwidth or inference"`
	SizeBytes        int64  `json:"size_bytes,omitempty" jsonschema:"storage: size of the file to store"`
	MiB              uint64 `json:"mib,omitempty" jsonschema:"bandwidth: MiB to carry"`
	Model            string `json:"model,omitempty" jsonschema:"inference: the model"`
	PromptTokens     uint64 `json:"prompt_tokens,omitempty" jsonschema:"inference: prompt tokens"`
	CompletionTokens uint64 `json:"completion_tokens,omitempty" jsonschema:"inference: completion tokens"`
}

// ProviderQuote is one provider's part of a quote.
type ProviderQuote struct {
	Provider string  `json:"provider"`
	Prices   []Price `json:"prices"`
	Bytes    uint64  `json:"bytes,omitempty" jsonschema:"storage: bytes this provider stores (its shards and the manifest)"`
	Sats     uint64  `json:"sats" jsonschema:"the price"`
	MostSats uint64  `json:"most_sats" jsonschema:"the most paid to it, paying ahead step by step"`
}

// QuoteOut is what the purchase costs with the best providers now.
type QuoteOut struct {
	Resource  string          `json:"resource"`
	Sats      uint64          `json:"sats" jsonschema:"the total price"`
	MostSats  uint64          `json:"most_sats" jsonschema:"the most the purchase takes from the wallet and budgets before change comes back"`
	Duration  string          `json:"duration,omitempty" jsonschema:"storage: how long the file is kept"`
	Providers []ProviderQuote `json:"providers"`
}

// StorePutIn is a file to store.
type StorePutIn struct {
	Name          string `json:"name" jsonschema:"the file's name (kept in the encrypted SafeBox entry)"`
	Content       string `json:"content,omitempty" jsonschema:"the file's content as text (or use content_base64)"`
	ContentBase64 string `json:"content_base64,omitempty" jsonschema:"the file's content, base64 (standard encoding)"`
}

// StorePutOut is a stored file.
type StorePutOut struct {
	Root      string   `json:"root" jsonschema:"the file's root CID (hex): what store_get and store_rm take"`
	Name      string   `json:"name"`
	Size      int64    `json:"size"`
	Providers []string `json:"providers" jsonschema:"pubkeys of the providers holding its shards"`
}

// RootIn names a stored file.
type RootIn struct {
	Root string `json:"root" jsonschema:"the file's root CID (hex), as store_put or store_ls gave it"`
}

// StoreGetOut is a fetched file.
type StoreGetOut struct {
	Root          string `json:"root"`
	Name          string `json:"name"`
	Size          int64  `json:"size"`
	Content       string `json:"content,omitempty" jsonschema:"the content, when it is valid UTF-8 text"`
	ContentBase64 string `json:"content_base64,omitempty" jsonschema:"the content, base64, when it is not UTF-8 text"`
}

// StoredFile is one file in store_ls.
type StoredFile struct {
	Root      string `json:"root"`
	Name      string `json:"name"`
	Size      int64  `json:"size"`
	Providers int    `json:"providers" jsonschema:"how many providers hold its shards"`
	Stored    string `json:"stored" jsonschema:"when it was stored (UTC, RFC 3339)"`
	Source    string `json:"source" jsonschema:"where it was listed from: relay, cache, relay+cache or local (no SafeBox entry)"`
}

// StoreLsIn takes no arguments.
type StoreLsIn struct{}

// StoreLsOut lists our files.
type StoreLsOut struct {
	Files    []StoredFile `json:"files"`
	RelayErr string       `json:"relay_error,omitempty" jsonschema:"set when no relay answered: listed from the local cache"`
}

// StoreRmOut says a file was deleted.
type StoreRmOut struct {
	Root    string `json:"root"`
	Deleted bool   `json:"deleted" jsonschema:"deleted from its providers and the SafeBox"`
}

// Message is a chat message.
type Message struct {
	Role    string `json:"role" jsonschema:"system, user or assistant"`
	Content string `json:"content"`
}

// AskIn is a question for a model sold on the market.
type AskIn struct {
	Model     string    `json:"model" jsonschema:"the model, as search_offers lists it"`
	Prompt    string    `json:"prompt,omitempty" jsonschema:"a user message (appended to messages)"`
	Messages  []Message `json:"messages,omitempty" jsonschema:"the conversation so far"`
	MaxTokens uint64    `json:"max_tokens,omitempty" jsonschema:"most completion tokens bought (0: the provider's default)"`
}

// AskOut is the model's answer and what it cost in tokens.
type AskOut struct {
	Content          string `json:"content"`
	Model            string `json:"model"`
	Provider         string `json:"provider" jsonschema:"pubkey of the provider that answered"`
	FinishReason     string `json:"finish_reason"`
	PromptTokens     uint64 `json:"prompt_tokens"`
	CompletionTokens uint64 `json:"completion_tokens"`
}

// BandwidthIn opens the bandwidth proxy.
type BandwidthIn struct {
	Listen string `json:"listen,omitempty" jsonschema:"loopback address of the SOCKS5 proxy (default 127.0.0.1:0, a free port)"`
	Target string `json:"target,omitempty" jsonschema:"host:port to reach through bought bandwidth now, to check a provider carries it"`
}

// BandwidthOut is the running proxy.
type BandwidthOut struct {
	SOCKS5  string `json:"socks5" jsonschema:"address of the SOCKS5 proxy whose connections ride bought bandwidth, paid per MiB"`
	Reached string `json:"reached,omitempty" jsonschema:"the target reached through a provider, if one was asked"`
}

// Empty takes no arguments.
type Empty struct{}

// MintBalance is the wallet's balance at one mint.
type MintBalance struct {
	Mint string `json:"mint"`
	Sats uint64 `json:"sats"`
}

// WalletOut is the agent's wallet and ledger.
type WalletOut struct {
	Pubkey      string        `json:"pubkey" jsonschema:"the agent's Nostr pubkey (hex)"`
	BalanceSats uint64        `json:"balance_sats"`
	Mints       []MintBalance `json:"mints" jsonschema:"balance per mint, the default mint first"`
	Spent       uint64        `json:"spent_sats" jsonschema:"ledger: paid to providers"`
	Refunded    uint64        `json:"refunded_sats" jsonschema:"ledger: came back (change, reclaimed payments)"`
	Earned      uint64        `json:"earned_sats" jsonschema:"ledger: earned as a provider"`
	Pending     uint64        `json:"pending_sats" jsonschema:"sent and not yet seen redeemed; taken back if never redeemed"`
	Reclaimed   uint64        `json:"reclaimed_sats" jsonschema:"part of refunded that came back by reclaiming unredeemed payments"`
}

// BudgetsOut is what the agent may still spend.
type BudgetsOut struct {
	PerDaySats          uint64   `json:"per_day_sats" jsonschema:"most spent per UTC day (0: no local limit)"`
	PerCounterpartySats uint64   `json:"per_counterparty_sats" jsonschema:"most paid to one counterparty per UTC day (0: no local limit)"`
	SpentTodaySats      uint64   `json:"spent_today_sats"`
	LeftTodaySats       *uint64  `json:"left_today_sats,omitempty" jsonschema:"what the per-day limit leaves today (absent: no limit)"`
	Owners              []string `json:"owners,omitempty" jsonschema:"pubkeys whose signed spending authorizations every payment also needs"`
	// Owner is set when owners are configured.
	Owner *OwnerBudget `json:"owner_authorization,omitempty" jsonschema:"with owners: the authorization payments are checked against now"`
}

// OwnerBudget is the owner's spending authorization in force.
type OwnerBudget struct {
	InForce             bool   `json:"in_force" jsonschema:"false: no authorization of an owner is in force, so every payment is refused"`
	ID                  string `json:"id,omitempty" jsonschema:"the authorization event's id"`
	Owner               string `json:"owner,omitempty" jsonschema:"the owner who signed it"`
	PerDaySats          uint64 `json:"per_day_sats,omitempty"`
	PerCounterpartySats uint64 `json:"per_counterparty_sats,omitempty" jsonschema:"0: no cap per counterparty"`
	Expires             string `json:"expires,omitempty" jsonschema:"when it ends (UTC, RFC 3339)"`
	SpentTodaySats      uint64 `json:"spent_today_sats" jsonschema:"spent under it today (reserved or paid)"`
	LeftTodaySats       uint64 `json:"left_today_sats"`
}
