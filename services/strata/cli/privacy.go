package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	crmv1 "github.com/stratahq/strata/proto/strata/crm/v1"
	ingestv1 "github.com/stratahq/strata/proto/strata/ingest/v1"
)

func newPrivacy(out io.Writer) *cobra.Command {
	c := &keysClient{}
	cmd := &cobra.Command{
		Use:   "privacy",
		Short: "Carry out data subjects' requests (admin API)",
		Long: `Send data subjects' privacy requests through the gateway's admin API (gRPC).

The admin key is read from --admin-key, else from ` + adminKeyEnv + `, else the
development key of an embedded suite.`,
	}
	c.register(cmd)
	cmd.AddCommand(newPrivacyErase(out, c), newPrivacyStatus(out, c))
	return cmd
}

func newPrivacyErase(out io.Writer, c *keysClient) *cobra.Command {
	var requestID string
	cmd := &cobra.Command{
		Use:   "erase USER_ID",
		Short: "Erase a user everywhere (right to erasure)",
		Long: `Publish an erasure request for the user to strata.privacy.v1. Every service then
deletes or anonymises the user: the profile is deleted and tombstoned in the compacted
changelog, segment memberships end, recommendation history and lists are deleted, the
prediction is tombstoned, ingest forgets the user's identity links, and the CRM
anonymises its rows. The command returns once the request is acknowledged by Kafka;
the services carry it out within seconds (see strata privacy status). Repeating a
request is harmless.`,
		Example: `  strata privacy erase u42`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.call(cmd, func(ctx context.Context, conn *grpc.ClientConn) error {
				resp, err := ingestv1.NewIngestServiceClient(conn).RequestErasure(ctx,
					&ingestv1.RequestErasureRequest{UserId: args[0], RequestId: requestID})
				if err != nil {
					return err
				}
				if c.asJSON {
					return printJSON(out, resp)
				}
				fmt.Fprintf(out, "erasure of %s requested: request %s at %s\n", args[0], resp.GetRequestId(),
					resp.GetRequestedAt().AsTime().Format(time.RFC3339))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&requestID, "request-id", "", "id to record the request under (default: a random one)")
	return cmd
}

func newPrivacyStatus(out io.Writer, c *keysClient) *cobra.Command {
	return &cobra.Command{
		Use:   "status REQUEST_ID",
		Short: "Show which services have carried out an erasure request",
		Long: `Show the receipts of an erasure request, as the CRM collected them from
strata.privacy.receipts.v1: each service that carried the request out, when, and how
many keys, rows or states it removed or anonymised; then whether the erasure is
complete (ingest, profile, recommendation, crm and prediction all reported) or which
services are missing. NotFound while no service has reported.`,
		Example: `  strata privacy status erase-4f1c...`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.call(cmd, func(ctx context.Context, conn *grpc.ClientConn) error {
				st, err := crmv1.NewCRMServiceClient(conn).GetErasureStatus(ctx, &crmv1.GetErasureStatusRequest{RequestId: args[0]})
				if err != nil {
					return err
				}
				if c.asJSON {
					return printJSON(out, st)
				}
				state := "complete"
				if !st.GetComplete() {
					state = "incomplete, missing " + strings.Join(st.GetMissing(), ", ")
				}
				fmt.Fprintf(out, "erasure request %s for %s: %s\n", st.GetRequestId(), st.GetUserId(), state)
				for _, r := range st.GetReceipts() {
					fmt.Fprintf(out, "  %-15s %8d items  %s\n", r.GetService(), r.GetItems(), r.GetCompletedAt().AsTime().Format(time.RFC3339))
				}
				return nil
			})
		},
	}
}
