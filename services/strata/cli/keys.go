package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	gatewayv1 "github.com/stratahq/strata/proto/strata/gateway/v1"
	"github.com/stratahq/strata/services/gateway/auth"
	"github.com/stratahq/strata/services/strata"
)

// adminKeyEnv names the environment variable the keys commands read the admin key from
// when --admin-key is not given (a flag would show the secret in the process list).
const adminKeyEnv = "STRATA_ADMIN_KEY"

// keysClient is the connection to the gateway's admin API that the keys and privacy
// subcommands share.
type keysClient struct {
	grpcAddr, adminKey string
	asJSON             bool
}

func (c *keysClient) dial(ctx context.Context) (*grpc.ClientConn, context.Context, error) {
	conn, err := grpc.NewClient(c.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, fmt.Errorf("dial %s: %w", c.grpcAddr, err)
	}
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.adminKey)
	return conn, ctx, nil
}

// call runs fn against the gateway's admin API and renders a gRPC error as its message.
func (c *keysClient) call(cmd *cobra.Command, fn func(context.Context, *grpc.ClientConn) error) error {
	ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
	defer cancel()
	conn, ctx, err := c.dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := fn(ctx, conn); err != nil {
		if st, ok := status.FromError(err); ok {
			return fmt.Errorf("%s: %s", st.Code(), st.Message())
		}
		return err
	}
	return nil
}

func newKeys(out io.Writer) *cobra.Command {
	c := &keysClient{}
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Create, list and revoke API keys, and read the audit log (admin API)",
		Long: `Manage the gateway's API keys through its admin API (gRPC).

The admin key is read from --admin-key, else from ` + adminKeyEnv + `, else the
development key of an embedded suite. Scopes: track, read:self, recommend, admin.
A key with read:self reads only the user it is bound to (--user).`,
	}
	c.register(cmd)
	cmd.AddCommand(newKeysCreate(out, c), newKeysList(out, c), newKeysRevoke(out, c), newKeysAudit(out, c))
	return cmd
}

// register adds the connection flags to cmd and its subcommands, and resolves the admin
// key before they run.
func (c *keysClient) register(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&c.grpcAddr, "grpc", "127.0.0.1:9090", "gateway gRPC address")
	f.StringVar(&c.adminKey, "admin-key", "", "admin API key (default: $"+adminKeyEnv+", else the development key)")
	f.BoolVar(&c.asJSON, "json", false, "print JSON (protobuf JSON of the responses)")
	cmd.PersistentPreRun = func(*cobra.Command, []string) {
		if c.adminKey == "" {
			c.adminKey = os.Getenv(adminKeyEnv)
		}
		if c.adminKey == "" {
			c.adminKey = strata.DevAdminKey
		}
	}
}

func newKeysCreate(out io.Writer, c *keysClient) *cobra.Command {
	var (
		name, scopes, user string
		rate               float64
		burst              int32
	)
	cmd := &cobra.Command{
		Use:     "create",
		Short:   "Create a key and print its secret (shown once)",
		Example: `  strata keys create --name ios-app --scope read:self,recommend --user u42 --rate 5 --burst 10`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := &gatewayv1.CreateKeyRequest{Name: name, UserId: user, RatePerSecond: rate, RateBurst: burst}
			for _, s := range splitList(scopes) {
				sc, ok := auth.ParseScope(s)
				if !ok {
					return fmt.Errorf("--scope: %q is not one of track, read:self, recommend, admin", s)
				}
				req.Scopes = append(req.Scopes, sc)
			}
			return c.call(cmd, func(ctx context.Context, conn *grpc.ClientConn) error {
				resp, err := gatewayv1.NewKeyServiceClient(conn).CreateKey(ctx, req)
				if err != nil {
					return err
				}
				if c.asJSON {
					return printJSON(out, resp)
				}
				k := resp.GetKey()
				fmt.Fprintf(out, "created key %s (%s) scopes %s%s\n\n  %s\n\n", k.GetKeyId(), k.GetName(), scopeList(k.GetScopes()), boundTo(k), resp.GetSecret())
				fmt.Fprintln(out, "Store the secret now: it is not shown again. Send it as \"Authorization: Bearer <secret>\".")
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "what the key is for (required)")
	f.StringVar(&scopes, "scope", "", "scopes, comma-separated: track, read:self, recommend, admin (required)")
	f.StringVar(&user, "user", "", "bind the key to this user id (required with read:self)")
	f.Float64Var(&rate, "rate", 0, "requests per second (0: the gateway's default)")
	f.Int32Var(&burst, "burst", 0, "token bucket size (0: the gateway's default)")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("scope")
	return cmd
}

func newKeysList(out io.Writer, c *keysClient) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List keys (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.call(cmd, func(ctx context.Context, conn *grpc.ClientConn) error {
				resp, err := gatewayv1.NewKeyServiceClient(conn).ListKeys(ctx, &gatewayv1.ListKeysRequest{})
				if err != nil {
					return err
				}
				if c.asJSON {
					return printJSON(out, resp)
				}
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tSCOPES\tUSER\tRATE/S\tBURST\tCREATED\tSTATE")
				for _, k := range resp.GetKeys() {
					state := "active"
					switch {
					case k.GetRevokedAt() != nil:
						state = "revoked " + k.GetRevokedAt().AsTime().Format(time.RFC3339)
					case k.GetConfigured():
						state = "configured"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.GetKeyId(), k.GetName(), scopeList(k.GetScopes()),
						dash(k.GetUserId()), limit(k, strconv.FormatFloat(k.GetRatePerSecond(), 'g', -1, 64)),
						limit(k, strconv.Itoa(int(k.GetRateBurst()))), k.GetCreatedAt().AsTime().Format(time.RFC3339), state)
				}
				return tw.Flush()
			})
		},
	}
}

func newKeysRevoke(out io.Writer, c *keysClient) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke KEY_ID",
		Short: "Revoke a key at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.call(cmd, func(ctx context.Context, conn *grpc.ClientConn) error {
				if _, err := gatewayv1.NewKeyServiceClient(conn).RevokeKey(ctx, &gatewayv1.RevokeKeyRequest{KeyId: args[0]}); err != nil {
					return err
				}
				fmt.Fprintf(out, "revoked key %s\n", args[0])
				return nil
			})
		},
	}
}

func newKeysAudit(out io.Writer, c *keysClient) *cobra.Command {
	var (
		keyID string
		n     int32
	)
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "List admin actions, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.call(cmd, func(ctx context.Context, conn *grpc.ClientConn) error {
				resp, err := gatewayv1.NewAuditServiceClient(conn).ListAuditEntries(ctx, &gatewayv1.ListAuditEntriesRequest{KeyId: keyID, PageSize: n})
				if err != nil {
					return err
				}
				if c.asJSON {
					return printJSON(out, resp)
				}
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "AT\tKEY\tMETHOD\tTARGET\tOUTCOME")
				for _, e := range resp.GetEntries() {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.GetAt().AsTime().Format(time.RFC3339), e.GetKeyId(), e.GetMethod(), dash(e.GetTarget()), e.GetCode())
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&keyID, "key", "", "only the actions of this key id")
	cmd.Flags().Int32Var(&n, "limit", 50, "entries to show (at most 1000)")
	return cmd
}

func printJSON(out io.Writer, m proto.Message) error {
	b, err := protojson.MarshalOptions{UseProtoNames: true, Multiline: true}.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, string(b))
	return err
}

func scopeList(scopes []gatewayv1.Scope) string {
	names := make([]string, len(scopes))
	for i, s := range scopes {
		names[i] = auth.ScopeName(s)
	}
	return strings.Join(names, ",")
}

func boundTo(k *gatewayv1.Key) string {
	if k.GetUserId() == "" {
		return ""
	}
	return ", bound to user " + k.GetUserId()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// limit renders a rate-limit field: configured keys are not limited, 0 is the default.
func limit(k *gatewayv1.Key, v string) string {
	switch {
	case k.GetConfigured():
		return "none"
	case v == "0":
		return "default"
	}
	return v
}
