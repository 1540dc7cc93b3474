package ease

import (
	"context"
	"errors"
	"fmt"

	"github.com/stratahq/strata/services/recommendation/interactions"
)

// ErrTooManyUsers is returned by FitUsers above its user limit.
var ErrTooManyUsers = errors.New("ease: too many users for the user-based model")

// UserModel is the user-based twin of EASE: the same closed form over the users,
//
//	P = (XXᵀ + λI)⁻¹,  C = I − P·diag(1/diag(P)),  diag(C) = 0,
//
// so user u's score for item j is Σ_v C_vu·x_vj: what the users that best reconstruct u
// did. It complements the item model (another view of the same matrix) and costs O(users³)
// time and users² + users × items memory, so it suits small user populations only (the
// offline evaluation); it scores the users it was fitted on, not new ones.
type UserModel struct {
	nItems int
	scores []float64 // users × items, row-major
}

// FitUsers learns the user-based model of m; it refuses more than maxUsers users.
func FitUsers(ctx context.Context, m *interactions.Matrix, cfg Config, maxUsers int) (*UserModel, error) {
	lambda := cfg.Lambda
	if lambda == 0 {
		lambda = DefaultLambda
	}
	if lambda < 0 {
		return nil, ErrBadLambda
	}
	nU, nI := m.NumUsers(), m.NumItems()
	if nU > maxUsers {
		return nil, fmt.Errorf("%w: %d > %d", ErrTooManyUsers, nU, maxUsers)
	}
	// K = XXᵀ, row u accumulated by the worker that owns u.
	k := make([]float64, nU*nU)
	iPtr, iUsers, iW := m.ItemUsers()
	parallelRows(nU, func(u int) {
		row := k[u*nU : (u+1)*nU]
		items, ws := m.Row(u)
		for t, i := range items {
			for p := iPtr[i]; p < iPtr[i+1]; p++ {
				row[iUsers[p]] += ws[t] * iW[p]
			}
		}
		row[u] += lambda
	})
	c, err := FromRegularisedGram(ctx, k, nU)
	if err != nil {
		return nil, err
	}
	// scores[u] = Σ_v C[v][u]·X_v.
	scores := make([]float64, nU*nI)
	parallelRows(nU, func(u int) {
		row := scores[u*nI : (u+1)*nI]
		for v := range nU {
			cvu := c.Weight(v, u)
			if cvu == 0 {
				continue
			}
			items, ws := m.Row(v)
			for t, i := range items {
				row[i] += cvu * ws[t]
			}
		}
	})
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("ease: fit users: %w", err)
	}
	return &UserModel{nItems: nI, scores: scores}, nil
}

// ScoreUser writes user u's score of every item into dst; a user the model was not
// fitted on (u < 0 or beyond) scores zero everywhere.
func (um *UserModel) ScoreUser(u int, dst []float64) {
	if u < 0 || (u+1)*um.nItems > len(um.scores) {
		clear(dst)
		return
	}
	copy(dst, um.scores[u*um.nItems:(u+1)*um.nItems])
}
