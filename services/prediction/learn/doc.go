// Package learn trains and explains the binary classifiers behind the prediction
// models: gradient-boosted trees, random forests and L2-regularised logistic
// regression, with Platt and isotonic probability calibration and exact per-feature
// explanations (TreeSHAP for the tree ensembles, closed form for the linear model).
//
// Go has no well-kept tree-ensemble trainer, so this package carries a compact one of
// its own rather than binding to C++ (LightGBM/XGBoost) or calling Python. The trees
// are CART trees grown on quantile-binned features (at most 128 bins per feature, as
// histogram-based trainers do): one builder serves both ensembles, splitting on the
// second-order gain G²/(H+λ) of gradient boosting; with targets as gradients, unit
// hessians and λ = 0 that gain is the variance (Gini) reduction of a random forest
// tree. Every node records its training cover, which TreeSHAP uses.
//
// Training is deterministic for a given seed. Fitted models are immutable and safe for
// concurrent use; training runs on every CPU where it parallelises (forest trees).
package learn
