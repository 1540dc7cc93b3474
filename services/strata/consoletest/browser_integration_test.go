//go:build integration

package consoletest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// browser drives one headless Chromium tab and saves screenshots to dir.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	dir  string

	mu     sync.Mutex
	errors []string
}

func newBrowser(t *testing.T, execPath, base string) *browser {
	t.Helper()
	dir := os.Getenv("STRATA_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	dir = filepath.Join(dir, "console-screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("console screenshots: %s", dir)

	b := &browser{t: t, base: base, dir: dir}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox cannot start
		chromedp.DisableGPU,
		chromedp.WindowSize(1440, 1000),
		chromedp.Flag("lang", "en-GB"),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx, chromedp.WithListener(b.listen))
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	b.ctx = ctx
	// The first run starts the browser; it gets no timeout, which would stop the browser.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium %s: %v", execPath, err)
	}
	return b
}

// listen records uncaught exceptions and console errors of the page; noErrors fails the
// test with them.
func (b *browser) listen(ev any) {
	var msg string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg = fmt.Sprintf("exception: %s %s:%d", d.Text, d.URL, d.LineNumber)
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type != "error" {
			return
		}
		var parts []string
		for _, a := range ev.Args {
			if a.Description != "" {
				parts = append(parts, a.Description)
			} else {
				parts = append(parts, string(a.Value))
			}
		}
		msg = "console.error: " + strings.Join(parts, " ")
	default:
		return
	}
	b.mu.Lock()
	b.errors = append(b.errors, msg)
	b.mu.Unlock()
}

// run runs actions within stepTimeout; on failure it saves a screenshot and fails.
func (b *browser) run(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.shot("failed-" + strings.ReplaceAll(step, " ", "-"))
		b.t.Fatalf("%s: %v", step, err)
	}
}

// visible waits until the element sel selects is visible.
func visible(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(sel))
}

func click(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible)
}

func typeInto(sel, text string) chromedp.Action[chromedp.Void] {
	return chromedp.SendKeys(chromedp.CSS(sel), text, chromedp.NodeVisible)
}

// open navigates the console to route (e.g. "#/rfm") and waits until the page rendered.
func (b *browser) open(route string) {
	b.t.Helper()
	b.run("open "+route, chromedp.Navigate(b.base+route))
	b.waitPage(route)
}

// waitPage waits until the console rendered route ("" for the page after login).
func (b *browser) waitPage(route string) {
	b.t.Helper()
	b.run("render "+route, visible(fmt.Sprintf(`#page[data-route=%q][data-loaded]`, route)))
}

// waitCharts waits until every chart of the page has drawn.
func (b *browser) waitCharts() {
	b.t.Helper()
	b.run("charts", chromedp.Steps(func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool](`document.querySelectorAll('.chart:not([data-ready])').length === 0`,
			chromedp.WithPollingTimeout(stepTimeout))(ctx, t)
		return chromedp.Void{}, err
	}))
}

// js runs a script in the page.
func (b *browser) js(step, script string) {
	b.t.Helper()
	b.run(step, chromedp.Steps(func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[any](script)(ctx, t)
		return chromedp.Void{}, err
	}))
}

// strings evaluates a script that returns an array of strings.
func (b *browser) strings(script string) []string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](script))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", script, err)
	}
	return v
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		b.shot("failed-read")
		b.t.Fatalf("read %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// number reads an integer the console formatted with group separators.
func (b *browser) number(sel string) int {
	b.t.Helper()
	s := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, b.text(sel))
	n, err := strconv.Atoi(s)
	if err != nil {
		b.t.Fatalf("%s: %q is not a number", sel, s)
	}
	return n
}

// shot saves a full-page PNG screenshot named name.
func (b *browser) shot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	// From the top, so the sticky header sits where it belongs in the full-page image.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`window.scrollTo(0, 0)`)); err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(b.dir, name+".png"), png, 0o644); err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
	}
}

// noErrors fails the test for every uncaught exception or console error the pages had.
func (b *browser) noErrors() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.errors {
		b.t.Errorf("browser: %s", e)
	}
}
