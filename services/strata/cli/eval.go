package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratahq/strata/services/prediction/cdnow"
	"github.com/stratahq/strata/services/prediction/evaluate"
)

// newEval is the parent of the offline evaluations; each area adds its subcommands
// here.
func newEval(out io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Offline evaluations of the models on public data sets",
	}
	cmd.AddCommand(newEvalCLV(out), newEvalPropensity(out))
	return cmd
}

func newEvalCLV(out io.Writer) *cobra.Command {
	var file, end string
	cmd := &cobra.Command{
		Use:   "clv",
		Short: "Fit BG/NBD and Gamma-Gamma to a CDNOW file and print the parameters as JSON",
		Long: `Fit the BG/NBD repeat-purchase model and the Gamma-Gamma spend model by maximum
likelihood to the transactions of a CDNOW file (CDNOW_master.txt or CDNOW_sample.txt) up to
and including --calibration-end, in weeks, replayed as Order Completed events through the
prediction service's feature code. Purchases on one day count as one transaction.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			calEnd, err := time.Parse(time.DateOnly, end)
			if err != nil {
				return fmt.Errorf("--calibration-end: %w", err)
			}
			txs, err := cdnow.ReadFile(file)
			if err != nil {
				return err
			}
			rep, err := evaluate.CLV(cmd.Context(), cdnow.Events(txs), calEnd)
			if err != nil {
				return err
			}
			return writeJSON(out, rep)
		},
	}
	f := cmd.Flags()
	f.StringVar(&file, "cdnow", "", "CDNOW transactions file (CDNOW_master.txt or CDNOW_sample.txt)")
	f.StringVar(&end, "calibration-end", "1997-09-30", "last day of the calibration period (YYYY-MM-DD, inclusive)")
	_ = cmd.MarkFlagRequired("cdnow")
	return cmd
}

func newEvalPropensity(out io.Writer) *cobra.Command {
	var (
		file, cutoff string
		folds        int
		seed         uint64
		horizonDays  int
	)
	cmd := &cobra.Command{
		Use:   "propensity",
		Short: "Cross-validate the purchase-propensity learners on a CDNOW file and print their metrics as JSON",
		Long: `Replay the transactions of a CDNOW file as Order Completed events through the prediction
service's feature code, build the point-in-time training set at --cutoff (features from
events before it, label = an order in the horizon after it), and report out-of-fold AUC,
log loss, Brier score and precision at the top decile of every learner (gradient-boosted
trees, random forest, logistic regression, all Platt-calibrated, and the ensemble: the mean
of those three's probabilities) over stratified folds of customers, plus the BG/NBD's
expected purchases as a baseline.

"selected" names the learner the service would pick: the best mean AUC ("validation") on
the same task built at two earlier cutoffs from the transactions before --cutoff only, so
the choice reads no label of the reported folds.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cut, err := time.Parse(time.DateOnly, cutoff)
			if err != nil {
				return fmt.Errorf("--cutoff: %w", err)
			}
			if folds < 2 {
				return fmt.Errorf("--folds must be at least 2, got %d", folds)
			}
			txs, err := cdnow.ReadFile(file)
			if err != nil {
				return err
			}
			rep, err := evaluate.Propensity(cmd.Context(), cdnow.Events(txs), evaluate.PropensityOptions{
				Cutoff: cut, Horizon: time.Duration(horizonDays) * 24 * time.Hour, Folds: folds, Seed: seed,
			})
			if err != nil {
				return err
			}
			return writeJSON(out, rep)
		},
	}
	f := cmd.Flags()
	f.StringVar(&file, "cdnow", "", "CDNOW transactions file (CDNOW_master.txt or CDNOW_sample.txt)")
	f.StringVar(&cutoff, "cutoff", "1997-10-01", "first day of the label window (YYYY-MM-DD); features use the days before it")
	f.IntVar(&folds, "folds", 5, "stratified cross-validation folds over customers")
	f.Uint64Var(&seed, "seed", 42, "seed of the folds and the learners")
	f.IntVar(&horizonDays, "horizon-days", 0, "length of the label window in days; 0 runs to the end of the data")
	_ = cmd.MarkFlagRequired("cdnow")
	return cmd
}

func writeJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
