//go:build integration

package consoletest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/stratahq/strata/services/strata"
	"github.com/stratahq/strata/services/strata/sink"
	"github.com/stratahq/strata/services/strata/suitetest"
	"github.com/stratahq/strata/services/strata/world"
)

const (
	writeKey = "console-write-key"
	adminKey = "console-admin-key"
	// stepTimeout bounds each wait in the browser, so a broken page fails in seconds
	// with a screenshot rather than at the test deadline.
	stepTimeout = 45 * time.Second
	// minBuyers is how many of the world's buyers the pipeline must have profiled
	// before the browser starts.
	minBuyers = 3
)

// TestConsole logs in to the console, browses every page with seeded data, builds a
// segment, launches a campaign on it and reads the campaign's report.
func TestConsole(t *testing.T) {
	chromium := chromiumPath(t)
	// The embedded stack: see the package doc.
	dataDir := t.TempDir()
	seedModel(t, dataDir)
	s := suitetest.Start(t, strata.Config{WriteKeys: map[string]string{writeKey: "console-test"}, AdminKeys: []string{adminKey}, DataDir: dataDir})

	// Ids unique to the run keep this world apart from other data on shared infrastructure.
	prefix := suitetest.UserID("ct") + "-"
	w := seedWorld(t, s, prefix)
	creator := prefix + "c00001"
	putJSON(t, s, "/api/v1/admin/revenue-share-rules/"+strings.TrimSuffix(prefix, "-")+"-rule", map[string]any{
		"creator_id": creator, "effective_month": "2000-01", "own_share_bps": 7000, "platform_share_bps": 5000,
		"platform_fee_bps": 1000, "clawback_days": 30,
	})

	b := newBrowser(t, chromium, "http://"+s.HTTP+"/console/")

	// A wrong key is refused on the login form; the admin key opens the overview.
	b.run("login refused",
		chromedp.Navigate(b.base),
		visible("#login-key"),
		typeInto("#login-key", "not-a-key"),
		click("#login-submit"),
		visible("#login-error"))
	b.shot("00-login-refused")
	b.js("clear key", `document.querySelector('#login-key').value = ''`)
	b.run("login",
		typeInto("#login-key", adminKey),
		click("#login-submit"))
	b.waitPage("")
	b.waitCharts()
	b.shot("01-overview")
	if got := b.text("#kpi-gmv .kpi-value"); got == "" {
		t.Errorf("overview: GMV figure is empty")
	}
	// Events per minute: the ingest instance counted the seeded world within the hour.
	b.run("events per minute", visible("#overview-epm[data-ready]"))
	if got := b.strings(`[document.querySelector('#kpi-epm').dataset.hourTotal || '']`); len(got) != 1 || got[0] == "" || got[0] == "0" {
		t.Errorf("overview: events in the last hour: got %v, want the seeded events", got)
	}

	// RFM: recalibrate now (the sweep runs hourly), which also computes the clusters.
	b.open("#/rfm")
	b.run("recalibrate RFM",
		click("#rfm-recalibrate"),
		visible("#rfm-heatmap[data-ready]"))
	b.waitCharts()
	b.shot("02-rfm")

	// The recalibration above may have waited for a sweep that started while the
	// pipeline was still building profiles, and clustered too few of them: recalibrate
	// until the clusters are there.
	suitetest.Eventually(t, 60*time.Second, "behaviour clusters", func() bool {
		if code, m := s.GetJSON(t, "/api/v1/admin/clusters"); code == http.StatusOK && len(asList(m["clusters"])) > 0 {
			return true
		}
		postJSON(t, s, "/api/v1/admin/rfm:recalibrate", map[string]any{})
		return false
	})
	b.open("#/clusters")
	b.run("clusters", visible("#clusters-table"))
	b.waitCharts()
	b.shot("03-clusters")

	// Segment builder: the live preview counts the run's buyers before the segment is saved.
	segmentID := strings.TrimSuffix(prefix, "-") + "-buyers"
	rule := fmt.Sprintf(`p.user_id.startsWith(%q) && p.aggregates.lifetime.orders > 0`, prefix)
	b.open("#/segments")
	// A rule that does not compile is shown as an error in the preview, not saved.
	b.run("segment preview of a broken rule",
		typeInto("#segment-rule", "p.rfm.tier =="),
		visible(`#segment-preview[data-state="error"] .error`))
	b.shot("04-segments-error")
	b.js("clear rule", `document.querySelector('#segment-rule').value = ''`)
	b.run("segment preview",
		typeInto("#segment-rule", rule),
		visible("#segment-preview-count"))
	previewed := b.number("#segment-preview-count")
	if previewed <= 0 {
		t.Fatalf("segment preview: got %d users, want the run's buyers", previewed)
	}
	b.run("segment save",
		typeInto("#segment-id", segmentID),
		typeInto("#segment-name", "Console test buyers"),
		click("#segment-save"),
		visible("#segment-saved[data-segment]"))
	if list := b.text("#segments-table"); !strings.Contains(list, segmentID) {
		t.Errorf("segment list after saving: %s missing from %q", segmentID, list)
	}
	b.shot("04-segments")
	suitetest.Eventually(t, 60*time.Second, "segment back-filled", func() bool {
		code, seg := s.GetJSON(t, "/api/v1/admin/segments/"+segmentID)
		return code == http.StatusOK && seg["status"] == "SEGMENT_STATUS_READY" && fmt.Sprint(seg["size"]) != "<nil>"
	})

	// User 360 of a buyer.
	_, sample := postJSON(t, s, "/api/v1/admin/segments:preview", map[string]any{"rule": rule, "sample_size": 1})
	buyer := fmt.Sprint(sample["sample"].([]any)[0])
	// CRM builds the timeline from the same events on its own consumer: wait for it.
	suitetest.Eventually(t, 60*time.Second, "buyer's timeline in CRM", func() bool {
		code, c := s.GetJSON(t, "/api/v1/admin/customers/"+buyer+"?interactions_limit=1")
		return code == http.StatusOK && len(asList(c["interactions"])) > 0
	})
	b.open("#/users/" + buyer)
	b.run("user 360", visible("#user-summary"), visible("#user-predictions"),
		visible("#user-timeline"))
	b.waitCharts()
	b.shot("05-user-360")

	// Campaign builder: a draft on the new segment with two variants, then its audience.
	campaignID := strings.TrimSuffix(prefix, "-") + "-camp"
	b.open("#/campaigns/new")
	b.run("campaign create",
		visible("#campaign-segment-"+segmentID),
		typeInto("#campaign-id", campaignID),
		typeInto("#campaign-name", "Console test campaign"),
		click("#campaign-segment-"+segmentID),
		click("#campaign-create"))
	b.waitPage("#/campaigns/" + campaignID)
	b.shot("06-campaign-builder-result")
	suitetest.Eventually(t, 60*time.Second, "campaign audience", func() bool {
		code, a := s.GetJSON(t, "/api/v1/admin/campaigns/"+campaignID+"/audience")
		return code == http.StatusOK && a["empty"] != true
	})
	b.run("campaign audience", chromedp.Reload())
	b.waitPage("#/campaigns/" + campaignID)
	b.run("campaign audience table", visible("#campaign-audience-table"))
	b.shot("07-campaign-draft")
	b.run("campaign launch",
		click("#campaign-launch"),
		visible(`#campaign-state[data-state="CAMPAIGN_STATE_LAUNCHED"]`),
		visible("#campaign-report-table"))
	b.waitCharts()
	b.shot("08-campaign-report")
	arms := b.strings(`[...document.querySelectorAll('#campaign-report-table tbody tr')].map((r) => r.cells[0].textContent)`)
	if got, want := strings.Join(arms, ","), "a,b,control"; got != want {
		t.Errorf("campaign report arms: got %s, want %s", got, want)
	}

	b.open("#/campaigns")
	b.run("campaign list", visible("#campaigns-table"))
	if list := b.text("#campaigns-table"); !strings.Contains(list, campaignID) {
		t.Errorf("campaign list: %s missing", campaignID)
	}
	b.shot("09-campaigns")

	b.open("#/models")
	b.run("train models", click("#models-train"), visible("#models-train-table"))
	// The promoted propensity model's report: its reliability diagram and ROC curve.
	b.run("model report", visible("#models-calibration-MODEL_PURCHASE_PROPENSITY"), visible("#models-roc-MODEL_PURCHASE_PROPENSITY"))
	b.waitCharts()
	b.shot("10-models")

	b.open("#/satisfaction")
	b.run("satisfaction", visible("#satisfaction-table"))
	b.waitCharts()
	b.shot("11-satisfaction")

	b.open("#/revenue")
	b.run("revenue", visible("#revenue-table"))
	b.waitCharts()
	b.shot("12-revenue")

	month := w.Config().End.AddDate(0, -1, 0).Format("2006-01")
	b.open("#/creators/" + creator + "/" + month)
	b.run("creator statement", visible("#creator-statement"), visible("#creator-rules"))
	b.shot("13-creators")

	// Keys: create one (the secret is shown once), see it listed, revoke it; the audit
	// log shows both actions.
	b.open("#/keys")
	keyName := strings.TrimSuffix(prefix, "-") + "-key"
	b.run("key create",
		typeInto("#key-name", keyName),
		click("#key-create"),
		visible("#key-secret"),
		visible("#key-created-id"))
	keyID, secret := b.text("#key-created-id"), b.text("#key-secret")
	if keyID == "" || secret == "" {
		t.Fatalf("key create: got id %q, secret %q; want both", keyID, secret)
	}
	b.run("key listed", visible(fmt.Sprintf(`#key-state-%s[data-state="active"]`, keyID)))
	if list := b.text("#keys-table"); !strings.Contains(list, keyName) {
		t.Errorf("key list: %s missing from %q", keyName, list)
	}
	b.shot("14-keys-created")
	if code := getWithKey(t, s, "/api/v1/admin/keys", secret); code != http.StatusForbidden {
		t.Errorf("the new track key on an admin read: got %d, want 403", code)
	}
	revoke := "#key-revoke-" + keyID
	b.run("key revoke", click(revoke), click(revoke),
		visible(fmt.Sprintf(`#key-state-%s[data-state="revoked"]`, keyID)))
	b.shot("15-keys-revoked")
	suitetest.Eventually(t, 30*time.Second, "revoked key refused", func() bool {
		return getWithKey(t, s, "/api/v1/admin/keys", secret) == http.StatusUnauthorized
	})

	b.open("#/audit")
	b.run("audit", visible("#audit-table"))
	audit := b.text("#audit-table")
	for _, want := range []string{"KeyService.CreateKey", "KeyService.RevokeKey"} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit log: %q missing from %q", want, audit)
		}
	}
	b.shot("16-audit")

	// The language switch re-renders the console in Chinese.
	b.open("#/overview")
	b.js("switch to Chinese", `(() => { const s = document.querySelector('#lang-select'); s.value = 'zh'; s.dispatchEvent(new Event('change')); })()`)
	b.waitPage("#/overview")
	if got, want := b.text("#nav-overview"), "概览"; got != want {
		t.Errorf("navigation in Chinese: got %q, want %q", got, want)
	}
	b.waitCharts()
	b.shot("17-overview-zh")
	b.js("switch back", `(() => { const s = document.querySelector('#lang-select'); s.value = 'en'; s.dispatchEvent(new Event('change')); })()`)

	b.noErrors()
}

func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("STRATA_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatalf("no Chromium: run scripts/browser install (make browser), or set STRATA_CHROMIUM")
	return ""
}

// seedWorld sends a small generated world through the gateway and waits until the
// pipeline has built profiles for a few of its buyers. Every user gets email consent
// first (the generated world records none, and a campaign only reaches users who
// consented), so the buyers the test waits for can be messaged. The rest of the world
// keeps arriving while the test browses: every page shows what the services hold.
func seedWorld(t *testing.T, s *suitetest.Suite, prefix string) *world.World {
	t.Helper()
	cfg := world.Config{Seed: 7, Users: 60, Items: 30, Days: 60, End: time.Now().UTC().Truncate(24 * time.Hour), Prefix: prefix}
	w, err := world.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h, err := sink.NewHTTP(sink.HTTPConfig{URL: "http://" + s.HTTP, WriteKey: writeKey, AdminKey: adminKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.SendItems(ctx, w.Items()); err != nil {
		t.Fatalf("send catalog: %v", err)
	}
	for i := range cfg.Users {
		m := sink.Message{Type: "identify", MessageID: prefix + "consent-" + strconv.Itoa(i), UserID: w.UserID(i),
			Timestamp: cfg.End.AddDate(0, 0, -cfg.Days),
			Traits:    map[string]any{"consent": map[string]any{"email": true, "push": true, "sms": true, "in_app": true}}}
		if err := h.Send(ctx, m); err != nil {
			t.Fatalf("send consent: %v", err)
		}
	}
	if err := w.Generate(ctx, func(m sink.Message) error { return h.Send(ctx, m) }); err != nil {
		t.Fatalf("send events: %v", err)
	}
	if err := h.Close(ctx); err != nil {
		t.Fatalf("close sink: %v", err)
	}
	t.Logf("seeded %d users, %d items (%d messages) with prefix %s", cfg.Users, cfg.Items, h.Stats().Delivered, prefix)
	start := time.Now()
	rule := fmt.Sprintf(`p.user_id.startsWith(%q) && p.aggregates.lifetime.orders > 0 && "email" in p.consent`, prefix)
	for {
		code, out := postJSON(t, s, "/api/v1/admin/segments:preview", map[string]any{"rule": rule})
		n, _ := strconv.Atoi(fmt.Sprint(out["count"]))
		if code == http.StatusOK && n >= minBuyers {
			break
		}
		if time.Since(start) > 120*time.Second {
			t.Fatalf("%d buyers with consent after %v, want %d: %d %v", n, time.Since(start), minBuyers, code, out)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("%d buyers' profiles built %v after the last message was acknowledged", minBuyers, time.Since(start).Round(time.Millisecond))
	return w
}

// getWithKey sends GET path with key and returns the status code.
func getWithKey(t *testing.T, s *suitetest.Suite, path, key string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+s.HTTP+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	return resp.StatusCode
}

func postJSON(t *testing.T, s *suitetest.Suite, path string, body any) (int, map[string]any) {
	t.Helper()
	return sendJSON(t, s, http.MethodPost, path, body)
}

func putJSON(t *testing.T, s *suitetest.Suite, path string, body any) {
	t.Helper()
	if code, out := sendJSON(t, s, http.MethodPut, path, body); code != http.StatusOK {
		t.Fatalf("PUT %s: got %d %v, want 200", path, code, out)
	}
}

func sendJSON(t *testing.T, s *suitetest.Suite, method, path string, body any) (int, map[string]any) {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, "http://"+s.HTTP+path, strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}
