// Package browsertest drives Debian's headless Chromium (apt-get install
// chromium) for the tests of sovmesh's web pages (relay/web, agentd's
// dashboard) through chromedp: start a browser, open tabs, wait on
// conditions (never on time), read the page, take screenshots at a given
// width. Where Chromium is missing the tests skip, except under CI (CI
// set), where they fail.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Widths are the viewport widths pages are checked at: a phone and two
// desktops.
const (
	Phone   = 390
	Desktop = 1280
	Wide    = 1700
)

// chromiumPath finds the browser: $SOVMESH_CHROMIUM, else chromium on PATH.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SOVMESH_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "headless Chromium not found: install Debian's package (apt-get install -y chromium) or set SOVMESH_CHROMIUM"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// New starts one headless Chromium for the test, with an empty profile and
// no background network traffic, and returns its first tab.
func New(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox, // root in containers
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(Desktop, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser (no timeout: it would end it)
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// Tab opens another tab of the same browser (cookies are shared).
func Tab(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open tab: %v", err)
	}
	return ctx
}

// Step runs actions on tab with a bounded time.
func Step(t *testing.T, tab context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		Shot(t, tab, "failed")
		t.Fatalf("%s: %v", what, err)
	}
}

// Width sets the tab's viewport to width CSS pixels (a phone's is
// touch-enabled and mobile).
func Width(t *testing.T, tab context.Context, width int) {
	t.Helper()
	var opts []chromedp.EmulateViewportOption
	if width < 700 {
		opts = append(opts, chromedp.EmulateMobile)
	}
	Step(t, tab, "viewport width", chromedp.EmulateViewport(int64(width), 900, opts...))
}

// Click clicks the element css selects, as a person would (mouse events
// at its position). A node replaced between the lookup and the click (a
// live table re-rendered) is looked up again.
func Click(t *testing.T, tab context.Context, what, css string) {
	t.Helper()
	var err error
	for range 20 {
		ctx, cancel := context.WithTimeout(tab, 10*time.Second)
		err = chromedp.Do(ctx, chromedp.Click(chromedp.CSS(css)))
		cancel()
		if err == nil || !strings.Contains(err.Error(), "Could not find node") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		Shot(t, tab, "failed")
		t.Fatalf("%s: click %s: %v", what, css, err)
	}
}

// WaitJS waits until the JavaScript expression is truthy. A navigation in
// between (after a click on a link) restarts the wait on the new page.
func WaitJS(t *testing.T, tab context.Context, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var err error
	for attempt := 0; time.Now().Before(deadline) && attempt < 100; attempt++ {
		ctx, cancel := context.WithDeadline(tab, deadline)
		_, err = chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond)))
		cancel()
		if err == nil {
			return
		}
		// A page that navigated away mid-poll ("target navigated",
		// "Cannot find context"): poll again on the new page.
		time.Sleep(50 * time.Millisecond)
	}
	Shot(t, tab, "failed")
	text, _ := Eval[string](t, tab, "document.body.innerText")
	t.Fatalf("waiting for %s (%s): %v\npage text:\n%s", what, expr, err, text)
}

// Eval evaluates a JavaScript expression in the tab.
func Eval[T any](t *testing.T, tab context.Context, expr string) (T, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 10*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr))
}

// Must is Eval failing the test on an error.
func Must[T any](t *testing.T, tab context.Context, expr string) T {
	t.Helper()
	v, err := Eval[T](t, tab, expr)
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

var logged sync.Map // test name -> the directory was logged

// Dir is where screenshots go: $SOVMESH_SCREENSHOTS if set, else the
// test's artifact directory (go test -artifacts keeps it, under -outputdir;
// without the flag it is removed with the test). The test log says which.
func Dir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SOVMESH_SCREENSHOTS")
	if dir == "" {
		dir = t.ArtifactDir()
	}
	if _, done := logged.LoadOrStore(t.Name(), true); !done {
		t.Logf("screenshots in %s", dir)
	}
	return dir
}

// Shot saves a full-page screenshot named after the test and name in Dir.
func Shot(t *testing.T, tab context.Context, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 10*time.Second)
	defer cancel()
	b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	p := filepath.Join(Dir(t), strings.ReplaceAll(t.Name(), "/", "_")+"-"+name+".png")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Logf("screenshot %s: %v", name, err)
	}
}
