package learn

// Explanations split a model's raw output (log-odds for GBT and logistic regression,
// probability for the forest) into a base value plus one contribution per feature, so
// that base + Σ contributions = raw output, exactly.

// Explanation is an additive split of a raw model output.
type Explanation struct {
	// Base is the expected raw output over the training data (trees) or the output
	// at the mean input (linear).
	Base float64
	// Contributions has one entry per feature.
	Contributions []float64
	// Output is the raw output explained: Base + Σ Contributions.
	Output float64
}

// Explain returns the exact SHAP values of x under the logistic regression's margin:
// with a linear model they are w_j·(z_j − E z_j), and the standardised inputs have mean
// zero on the training data.
func (m *Logistic) Explain(x []float64) Explanation {
	e := Explanation{Base: m.Intercept, Contributions: make([]float64, len(m.Weights)), Output: m.Intercept}
	for j, w := range m.Weights {
		c := w * m.standardise(j, x[j])
		e.Contributions[j] = c
		e.Output += c
	}
	return e
}

// Explain returns the path-dependent TreeSHAP values of x under the GBT's margin.
func (m *GBT) Explain(x []float64) Explanation {
	e := Explanation{Base: m.Base, Contributions: make([]float64, len(x))}
	for i := range m.Trees {
		e.Base += m.Trees[i].ExpectedValue()
		m.Trees[i].shap(x, e.Contributions)
	}
	e.Output = m.Margin(x)
	return e
}

// Explain returns the path-dependent TreeSHAP values of x under the forest's
// probability (the mean of the trees' explanations).
func (f *Forest) Explain(x []float64) Explanation {
	e := Explanation{Contributions: make([]float64, len(x))}
	for i := range f.Trees {
		e.Base += f.Trees[i].ExpectedValue()
		f.Trees[i].shap(x, e.Contributions)
	}
	n := float64(len(f.Trees))
	e.Base /= n
	for j := range e.Contributions {
		e.Contributions[j] /= n
	}
	e.Output = f.Predict(x)
	return e
}

// Explain returns the tree's TreeSHAP values for x.
func (t *Tree) Explain(x []float64) Explanation {
	e := Explanation{Base: t.ExpectedValue(), Contributions: make([]float64, len(x)), Output: t.Predict(x)}
	t.shap(x, e.Contributions)
	return e
}

// pathElem is one feature on the path from the root, with the fractions of "zero"
// (feature unknown: follow covers) and "one" (feature known: follow x) paths through
// it, and the permutation weight of subsets of this size.
type pathElem struct {
	feature      int
	zero, one, w float64
}

// shap adds the tree's SHAP values for x to phi: the exact algorithm 2 of Lundberg,
// Erion & Lee (2018), "Consistent Individualized Feature Attribution for Tree
// Ensembles", over node covers (path-dependent feature perturbation). It runs in
// O(leaves · depth²).
func (t *Tree) shap(x []float64, phi []float64) {
	depth := t.Depth() + 2
	// The path of each recursion level lives in its own segment of one buffer, as
	// in the reference implementation, so recursion never allocates.
	buf := make([]pathElem, depth*(depth+1)/2+depth)
	t.shapRecurse(x, phi, 0, buf, 0, 0, 1, 1, -1)
}

func (t *Tree) shapRecurse(x, phi []float64, node int, buf []pathElem, parentStart, uniqueDepth int, pZero, pOne float64, pFeature int) {
	// Copy the parent's path (uniqueDepth elements) into this level's segment.
	start := parentStart + uniqueDepth
	if node == 0 {
		start = 0
	}
	path := buf[start:]
	if node != 0 {
		copy(path[:uniqueDepth], buf[parentStart:parentStart+uniqueDepth])
	}
	extendPath(path, uniqueDepth, pZero, pOne, pFeature)

	n := &t.Nodes[node]
	if n.Left < 0 {
		for i := 1; i <= uniqueDepth; i++ {
			w := unwoundPathSum(path, uniqueDepth, i)
			el := path[i]
			phi[el.feature] += w * (el.one - el.zero) * n.Value
		}
		return
	}
	hot, cold := int(n.Right), int(n.Left)
	if x[n.Feature] <= n.Threshold {
		hot, cold = cold, hot
	}
	hotZero := t.Nodes[hot].Cover / n.Cover
	coldZero := t.Nodes[cold].Cover / n.Cover
	inZero, inOne := 1.0, 1.0
	// A feature already on the path is unwound and re-added with both splits'
	// fractions multiplied.
	k := 1
	for ; k <= uniqueDepth; k++ {
		if path[k].feature == n.Feature {
			break
		}
	}
	if k <= uniqueDepth {
		inZero, inOne = path[k].zero, path[k].one
		unwindPath(path, uniqueDepth, k)
		uniqueDepth--
	}
	t.shapRecurse(x, phi, hot, buf, start, uniqueDepth+1, hotZero*inZero, inOne, n.Feature)
	t.shapRecurse(x, phi, cold, buf, start, uniqueDepth+1, coldZero*inZero, 0, n.Feature)
}

func extendPath(path []pathElem, d int, zero, one float64, feature int) {
	path[d] = pathElem{feature: feature, zero: zero, one: one}
	if d == 0 {
		path[d].w = 1
	}
	for i := d - 1; i >= 0; i-- {
		path[i+1].w += one * path[i].w * float64(i+1) / float64(d+1)
		path[i].w = zero * path[i].w * float64(d-i) / float64(d+1)
	}
}

func unwindPath(path []pathElem, d, idx int) {
	one, zero := path[idx].one, path[idx].zero
	next := path[d].w
	for i := d - 1; i >= 0; i-- {
		if one != 0 {
			tmp := path[i].w
			path[i].w = next * float64(d+1) / (float64(i+1) * one)
			next = tmp - path[i].w*zero*float64(d-i)/float64(d+1)
		} else {
			path[i].w = path[i].w * float64(d+1) / (zero * float64(d-i))
		}
	}
	for i := idx; i < d; i++ {
		path[i].feature, path[i].zero, path[i].one = path[i+1].feature, path[i+1].zero, path[i+1].one
	}
}

func unwoundPathSum(path []pathElem, d, idx int) float64 {
	one, zero := path[idx].one, path[idx].zero
	next := path[d].w
	var total float64
	if one != 0 {
		for i := d - 1; i >= 0; i-- {
			tmp := next / (float64(i+1) * one)
			total += tmp
			next = path[i].w - tmp*zero*float64(d-i)
		}
	} else {
		for i := d - 1; i >= 0; i-- {
			total += path[i].w / (zero * float64(d-i))
		}
	}
	return total * float64(d+1)
}
