package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	profilev1 "github.com/stratahq/strata/proto/strata/profile/v1"
	"github.com/stratahq/strata/services/strata"
	"github.com/stratahq/strata/services/strata/sink"
	"github.com/stratahq/strata/services/strata/world"
)

// seedOnce is `strata up --seed`: once the suite is ready it sends the default world
// (what `strata seed` generates with its defaults) through the gateway's Segment API,
// unless the suite already holds it.
//
// "Already holds it" is asked of the suite itself rather than of a marker file: the
// gateway is asked for the profile of the world's last user that has events (users are
// sent in id order, so that one comes last). The embedded stack keeps its Kafka and
// Redis in memory, so a fresh `strata up` never holds the world and always seeds it;
// against real Kafka and Redis, which outlive the process, the world is seeded once.
// A marker in --data-dir would be wrong in both directions: the embedded Kafka does not
// survive a restart however the data dir is set, and real infrastructure can be shared
// by several processes with different data dirs.
type seedOnce struct {
	enabled bool
	// world overrides the default world (tests use a small one).
	world *world.Config
}

func (s *seedOnce) register(f *pflag.FlagSet) {
	f.BoolVar(&s.enabled, "seed", true, "once the suite is ready, seed the default world (strata seed's 5,000 users) unless the suite already holds it")
}

// run seeds the world as the seed flag says, reporting on out; failures are logged and
// leave the suite running. It returns when the world is sent or ctx is done.
func (s *seedOnce) run(ctx context.Context, out io.Writer, log *slog.Logger, ep strata.Endpoints, cfg strata.Config) {
	if !s.enabled {
		return
	}
	writeKey, adminKey := ep.WriteKey, ep.AdminKey
	if writeKey == "" && len(cfg.WriteKeys) > 0 {
		keys := make([]string, 0, len(cfg.WriteKeys))
		for k := range cfg.WriteKeys {
			keys = append(keys, k)
		}
		writeKey = slices.Min(keys)
	}
	if adminKey == "" && len(cfg.AdminKeys) > 0 {
		adminKey = cfg.AdminKeys[0]
	}
	wcfg := world.DefaultConfig()
	if s.world != nil {
		wcfg = *s.world
	}
	res, err := seedSuite(ctx, out, wcfg, "http://"+ep.HTTP, ep.GRPC, writeKey, adminKey)
	switch {
	case errors.Is(err, context.Canceled):
	case err != nil:
		log.ErrorContext(ctx, "seeding the default world failed; the suite runs on", "err", err)
	case res.skipped:
		fmt.Fprintf(out, "\nThe default world is already there (user %s has a profile): not seeding it again.\n", res.probe)
	default:
		fmt.Fprintf(out, `
Seeded the default world: %s users, %s items, %s events in %.0fs. Profiles fill in as the
pipeline catches up. Try:
  curl -H 'Authorization: Bearer %[5]s' http://%[6]s/api/v1/users/%[7]s/profile
  strata load --http http://%[6]s --rate 2000 --batch 10 --duration 10s
`, thousands(int64(wcfg.Users)), thousands(int64(res.Items)), thousands(res.Events), res.Elapsed.Seconds(), adminKey, ep.HTTP, res.first)
	}
}

type seedOutcome struct {
	seedResult
	skipped      bool
	probe, first string
}

// seedSuite sends the world cfg describes to the suite at httpURL unless the suite
// at grpcAddr already has the profile of its last active user.
func seedSuite(ctx context.Context, out io.Writer, cfg world.Config, httpURL, grpcAddr, writeKey, adminKey string) (seedOutcome, error) {
	var res seedOutcome
	w, err := world.New(cfg)
	if err != nil {
		return res, err
	}
	res.first = w.UserID(0)
	for i := cfg.Users - 1; i >= 0; i-- {
		if len(w.Messages(i)) > 0 {
			res.probe = w.UserID(i)
			break
		}
	}
	found, err := hasProfile(ctx, grpcAddr, adminKey, res.probe)
	if err != nil {
		return res, err
	}
	if found {
		res.skipped = true
		return res, nil
	}
	fmt.Fprintf(out, "\nSeeding the default world (%s users, %s items, %d days, seed %d) through %s/v1/batch…\n",
		thousands(int64(cfg.Users)), thousands(int64(cfg.Items)), cfg.Days, cfg.Seed, httpURL)
	h, err := sink.NewHTTP(sink.HTTPConfig{URL: httpURL, WriteKey: writeKey, AdminKey: adminKey})
	if err != nil {
		return res, err
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(out, "  seeding: %s of %s users, %s events sent\n",
					thousands(w.Simulated()), thousands(int64(cfg.Users)), thousands(h.Stats().Delivered))
			}
		}
	}()
	res.seedResult, err = seedWorld(ctx, w, h)
	close(done)
	return res, err
}

// hasProfile asks the gateway whether userID has a profile. A suite that has just
// started answers Unavailable while the profile service restores its cache; that is
// asked again until readyWait has passed.
func hasProfile(ctx context.Context, grpcAddr, adminKey, userID string) (bool, error) {
	if userID == "" {
		return false, nil
	}
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return false, err
	}
	defer conn.Close()
	client := profilev1.NewProfileServiceClient(conn)
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+adminKey)
	deadline := time.Now().Add(readyWait)
	for {
		callCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = client.GetProfile(callCtx, &profilev1.GetProfileRequest{UserId: userID})
		cancel()
		switch status.Code(err) {
		case codes.OK:
			return true, nil
		case codes.NotFound:
			return false, nil
		case codes.Unavailable:
			if time.Now().Before(deadline) {
				select {
				case <-ctx.Done():
					return false, ctx.Err()
				case <-time.After(250 * time.Millisecond):
				}
				continue
			}
		}
		return false, fmt.Errorf("ask for the profile of %s: %w", userID, err)
	}
}

// readyWait bounds how long hasProfile waits for a suite that is still starting.
const readyWait = 2 * time.Minute
